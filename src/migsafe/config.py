"""Settings: [tool.migsafe] in pyproject.toml or the top level of migsafe.toml; CLI flags win.

The Settings fields double as the table of config keys: a field whose metadata has a
"parse" validator is a config key spelled with dashes (`fail_on` -> `fail-on`). Adding a
key is one field line. Fields without "parse" (config_path, later CLI-only ones) are not
read from files.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from migsafe import dialects
from migsafe.errors import ConfigError
from migsafe.model import Severity
from migsafe.sources.registry import source as source_named
from migsafe.sources.registry import sources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DIALECTS = dialects.NAMES
SQL_TRANSACTION = ("none", "per-file")
_VERSION = re.compile(r"(mariadb-)?\d+(\.\d+)*")


class _Bad(Exception):
    """A validator's complaint; the caller prefixes the file name."""


# A validator gets (label, value, known_rules) and returns the Settings value or raises
# _Bad. `label` is `"fail-on"` for a file key and `--fail-on` for a flag.
Parse = Callable[[str, Any, set[str]], Any]


def _show(value: Any) -> str:
    return json.dumps(value, default=str)


def _hint(name: str, known: set[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _choice(*allowed: str, convert: Callable[[str], Any] = str) -> Parse:
    def parse(label: str, value: Any, rules: set[str]) -> Any:
        if value not in allowed:  # also rejects non-strings
            shown = [_show(a) for a in allowed]
            want = " or ".join(shown) if len(shown) == 2 else "one of " + ", ".join(shown)
            raise _Bad(f"{label} must be {want}, got {_show(value)}")
        return convert(value)

    return parse


def _bool(label: str, value: Any, rules: set[str]) -> bool:
    if not isinstance(value, bool):
        raise _Bad(f"{label} must be true or false, got {_show(value)}")
    return value


def _str_list(label: str, value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise _Bad(f"{label} must be a list of strings, got {_show(value)}")
    return list(value)


def _globs(label: str, value: Any, rules: set[str]) -> tuple[str, ...]:
    return tuple(_str_list(label, value))


def _rules(label: str, value: Any, rules: set[str]) -> tuple[str, ...]:
    items = _str_list(label, value)
    for rule in items:
        if rule not in rules:
            raise _Bad(f'unknown rule "{rule}" in {label}{_hint(rule, rules)}')
    return tuple(sorted(set(items)))


def _target_version(label: str, value: Any, rules: set[str]) -> str:
    # TOML lets people write 14 or 8.0 unquoted; keep the text they meant.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _VERSION.fullmatch(value):
        raise _Bad(f'{label} must be a version such as "15", "8.0" or "mariadb-10.11", got {_show(value)}')
    return value


def _seconds(label: str, value: Any, rules: set[str]) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 86400:
        raise _Bad(f"{label} must be a number of seconds greater than 0 (at most 86400), got {_show(value)}")
    return float(value)


_MODULE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def _module(label: str, value: Any, rules: set[str]) -> str:
    if not isinstance(value, str) or not _MODULE.fullmatch(value):
        raise _Bad(f'{label} must be a dotted module name such as "shop.settings", got {_show(value)}')
    return value


_DATABASE_URL = re.compile(r"(postgresql|postgres|mysql|mariadb|sqlite)(\+\w+)?://", re.I)


def _database(label: str, value: Any, rules: set[str]) -> str:
    """"embedded" or a postgresql://, mysql:// or sqlite:/// URL; a bad one is named without
    anything that may be its password."""
    if value == "embedded" or (isinstance(value, str) and _DATABASE_URL.match(value)):
        return value
    shown = re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", value) if isinstance(value, str) else value
    raise _Bad(f'{label} must be "embedded" or a postgresql://, mysql:// or sqlite:/// URL, got {_show(shown)}')


def _sub(label: str, key: str) -> str:
    """The label of a nested key: "severity" -> "severity.drop-column"."""
    return f'{label[:-1]}.{key}"' if label.endswith('"') else f"{label}.{key}"


def _table(label: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise _Bad(f"{label} must be a table, got {_show(value)}")
    return value


_level = _choice("error", "warning", convert=Severity)


def _severity(label: str, value: Any, rules: set[str]) -> tuple[tuple[str, Severity], ...]:
    out = []
    for rule, level in _table(label, value).items():
        if rule not in rules:
            raise _Bad(f'unknown rule "{rule}" in {label}{_hint(rule, rules)}')
        out.append((rule, _level(_sub(label, rule), level, rules)))
    return tuple(sorted(out))


@dataclass(frozen=True)
class StartAfter:
    """Migrations at or before these are history: replayed for the schema, never reported.
    `values`: (source name, its value), sorted, only those set. A value is a migration's name or
    id (sql: a file or folder name, beyond the contract), or, for a source whose migrations are
    per app (registry.Source.start_after), ((app_label, migration name), ...) sorted."""

    values: tuple[tuple[str, Any], ...] = ()

    def get(self, source: str) -> Any:
        """The value for `source`: None (or () for a per-app source) where none is set."""
        for name, value in self.values:
            if name == source:
                return value
        return () if source_named(source).start_after == "per-app" else None


def _start_after(label: str, value: Any, rules: set[str]) -> StartAfter:
    table = _table(label, value)
    kinds = {s.name: s.start_after for s in sources()}
    for key in table:
        if key not in kinds:
            raise _Bad(f'unknown key "{key}" in {label}{_hint(key, tuple(sorted(kinds)))}')

    def name(label: str, v: Any) -> str | None:
        if v is not None and (not isinstance(v, str) or not v):
            raise _Bad(f"{label} must be a non-empty string, got {_show(v)}")
        return v

    values = {}
    for source in sorted(kinds, key=lambda s: (kinds[s] != "per-app", s)):  # (tables first, as ever)
        if kinds[source] == "per-app":
            apps = _table(_sub(label, source), table.get(source, {}))
            for app, migration in apps.items():
                name(_sub(_sub(label, source), app), migration)
            values[source] = tuple(sorted(apps.items()))
        else:
            values[source] = name(_sub(label, source), table.get(source))
    return StartAfter(tuple(sorted((k, v) for k, v in values.items() if v)))


def _key(default: Any, parse: Parse) -> Any:
    """A config key: its default and the validator that turns raw TOML/flag values into it."""
    return field(default=default, metadata={"parse": parse})


@dataclass(frozen=True)
class Settings:
    # --- config keys (file and flags); the name with "_" -> "-" is the key ---
    dialect: str | None = _key(None, _choice(*DIALECTS))  # None: alembic.ini's sqlalchemy.url, else postgresql
    target_version: str | None = _key(None, _target_version)  # None: dialect default, decided elsewhere
    fail_on: Severity = _key(Severity.ERROR, _level)
    select: tuple[str, ...] = _key((), _rules)  # empty: all rules
    ignore: tuple[str, ...] = _key((), _rules)
    exclude: tuple[str, ...] = _key((), _globs)
    start_after: StartAfter = _key(StartAfter(), _start_after)
    sql_transaction: str = _key("none", _choice(*SQL_TRANSACTION))
    severity: tuple[tuple[str, Severity], ...] = _key((), _severity)  # (rule, level), sorted
    no_exec: bool = _key(False, _bool)
    render_timeout: float = _key(30.0, _seconds)  # per Alembic revision, rendered in a worker process
    runner_sets_lock_timeout: bool = _key(False, _bool)  # the runner sets lock_timeout: no migration needs to
    django_settings: str | None = _key(None, _module)  # the project's settings module; None: DJANGO_SETTINGS_MODULE
    database: str | None = _key(None, _database)  # "embedded" or a URL: run on a scratch database; None: offline
    # --- not config keys ---
    config_path: Path | None = None  # the file the settings came from, if any


def config_keys() -> dict[str, str]:
    """Config key spelling -> Settings field name."""
    return {f.name.replace("_", "-"): f.name for f in fields(Settings) if "parse" in f.metadata}


def _parser(field_name: str) -> Parse:
    return next(f.metadata["parse"] for f in fields(Settings) if f.name == field_name)


def _has_table(path: Path) -> bool:
    tool = _read(path).get("tool")
    return isinstance(tool, dict) and "migsafe" in tool


def find_config(start: Path) -> Path | None:
    """The nearest config walking up from `start`: in each folder a pyproject.toml with
    [tool.migsafe] wins, else a migsafe.toml; otherwise go on to the parent."""
    start = start.resolve()
    for folder in (start, *start.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and _has_table(pyproject):
            return pyproject
        if (folder / "migsafe.toml").is_file():
            return folder / "migsafe.toml"
    return None


def _where(path: Path) -> str:
    """How error messages name the file: relative to the working directory when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _read(path: Path) -> dict:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{_where(path)}: config file does not exist") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{_where(path)}: cannot read config: not UTF-8 text") from None
    except OSError as e:
        raise ConfigError(f"{_where(path)}: cannot read config: {e.strerror or e}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:  # its message ends with "(at line N, column M)"
        raise ConfigError(f"{_where(path)}: invalid TOML: {e}") from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise ConfigError(f"{_where(path)}: invalid TOML: nested too deeply") from None


def _file_values(path: Path) -> tuple[dict, str]:
    """The raw migsafe table of a config file, and how to name it in messages."""
    data = _read(path)
    if path.name != "pyproject.toml":
        return data, ""
    tool = data.get("tool")
    table = tool.get("migsafe") if isinstance(tool, dict) else None
    if table is None:
        raise ConfigError(f"{_where(path)}: no [tool.migsafe] table")
    if not isinstance(table, dict):
        raise ConfigError(f"{_where(path)}: [tool.migsafe] must be a table")
    return table, " in [tool.migsafe]"


def load_settings(config_path: Path | None, overrides: dict, known_rules: set[str]) -> Settings:
    """Settings from the config file (if any) with `overrides` (flag values in config-key
    spelling, e.g. {"fail-on": "warning"}) on top. A None override means the flag was not
    given. Anything wrong raises ConfigError with one line naming the key and the file."""
    keys = config_keys()
    values: dict[str, Any] = {}
    if config_path is not None:
        raw, table_name = _file_values(config_path)
        where = _where(config_path)
        for key, value in raw.items():
            if key not in keys:
                raise ConfigError(f'{where}: unknown key "{key}"{table_name}{_hint(key, tuple(keys))}')
            try:
                values[keys[key]] = _parser(keys[key])(f'"{key}"', value, known_rules)
            except _Bad as e:
                raise ConfigError(f"{where}: {e}") from None
    for key, value in overrides.items():
        if key not in keys:  # a bug in the caller, not a user error
            raise ValueError(f"not a config key: {key!r}")
        if value is None:
            continue
        try:
            values[keys[key]] = _parser(keys[key])(f"--{key}", value, known_rules)
        except _Bad as e:
            raise ConfigError(str(e)) from None
    return Settings(**values, config_path=config_path)

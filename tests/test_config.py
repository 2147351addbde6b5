import json
from pathlib import Path

import pytest

from migsafe.config import Settings, StartAfter, config_keys, find_config, load_settings
from migsafe.errors import ConfigError
from migsafe.model import Severity

RULES = {"drop-column", "drop-table", "missing-lock-timeout", "non-concurrent-drop-index", "bad-suppression"}


@pytest.fixture(autouse=True)
def _cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # messages name files relative to the working directory


def pyproject(folder: Path, body: str) -> Path:
    path = folder / "pyproject.toml"
    path.write_text(body)
    return path


def migsafe_toml(folder: Path, body: str) -> Path:
    path = folder / "migsafe.toml"
    path.write_text(body)
    return path


def load(path, overrides=None):
    return load_settings(path, overrides or {}, RULES)


def error(path, overrides=None) -> str:
    with pytest.raises(ConfigError) as info:
        load(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- find_config ---------------------------------------------------------------------


def test_find_config_none(tmp_path):
    pyproject(tmp_path, "[project]\nname = 'x'\n")
    found = find_config(tmp_path)
    assert found is None or tmp_path.resolve() not in found.parents  # only folders above tmp_path


def test_find_config_pyproject_with_table(tmp_path):
    path = pyproject(tmp_path, "[tool.migsafe]\ndialect = 'mysql'\n")
    assert find_config(tmp_path) == path.resolve()


def test_find_config_skips_pyproject_without_table(tmp_path):
    sub = tmp_path / "proj" / "pkg"
    sub.mkdir(parents=True)
    pyproject(tmp_path / "proj", "[tool.black]\nline-length = 99\n")
    outer = pyproject(tmp_path, "[tool.migsafe]\n")
    assert find_config(sub) == outer.resolve()


def test_find_config_pyproject_without_table_falls_back_to_migsafe_toml_same_folder(tmp_path):
    pyproject(tmp_path, "[project]\nname = 'x'\n")
    toml = migsafe_toml(tmp_path, "")
    assert find_config(tmp_path) == toml.resolve()


def test_find_config_pyproject_wins_over_migsafe_toml(tmp_path):
    path = pyproject(tmp_path, "[tool.migsafe]\n")
    migsafe_toml(tmp_path, "")
    assert find_config(tmp_path) == path.resolve()


def test_find_config_nearest_wins(tmp_path):
    pyproject(tmp_path, "[tool.migsafe]\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    near = migsafe_toml(sub, "")
    assert find_config(sub) == near.resolve()


def test_find_config_invalid_pyproject_is_an_error(tmp_path):
    pyproject(tmp_path, "[tool.migsafe\n")
    with pytest.raises(ConfigError, match="pyproject.toml: invalid TOML"):
        find_config(tmp_path)


# --- loading ---------------------------------------------------------------------------


def test_defaults_without_file():
    s = load(None)
    assert s == Settings()
    assert s.dialect is None  # resolved by the engine: alembic.ini's url, else postgresql
    assert s.target_version is None
    assert s.fail_on is Severity.ERROR
    assert s.select == s.ignore == s.exclude == s.severity == ()
    assert s.start_after == StartAfter()
    assert s.sql_transaction == "none"
    assert s.no_exec is False
    assert s.config_path is None


def test_config_keys_table():
    assert set(config_keys()) == {
        "dialect", "target-version", "fail-on", "select", "ignore", "exclude",
        "start-after", "sql-transaction", "severity", "no-exec", "render-timeout", "django-settings",
        "runner-sets-lock-timeout", "database",
    }


@pytest.mark.parametrize("value", ["embedded", "postgresql://u@h/postgres", "postgresql+psycopg://u@h/db",
                                   "mysql://root@localhost/", "sqlite:///tmp/app.db"])
def test_database_is_embedded_or_a_url_of_a_supported_engine(tmp_path, value):
    config = tmp_path / "migsafe.toml"
    config.write_text(f"database = {json.dumps(value)}\n")
    assert load_settings(config, {}, set()).database == value


@pytest.mark.parametrize("value", ["", "embeded", "oracle://u:pw@h/db", 5, ["embedded"]])
def test_database_bad_value_is_named_without_a_password(tmp_path, value):
    config = tmp_path / "migsafe.toml"
    config.write_text(f"database = {json.dumps(value)}\n")
    with pytest.raises(ConfigError, match='"database" must be "embedded" or a postgresql://') as raised:
        load_settings(config, {}, set())
    assert ":pw@" not in str(raised.value)


@pytest.mark.parametrize("value", ["", "shop settings", "shop..settings", 3, ["shop.settings"]])
def test_django_settings_must_be_a_module_name(tmp_path, value):
    config = tmp_path / "migsafe.toml"
    config.write_text(f"django-settings = {json.dumps(value)}\n")
    with pytest.raises(ConfigError, match='"django-settings" must be a dotted module name'):
        load_settings(config, {}, set())
    config.write_text('django-settings = "shop.settings.production"\n')
    assert load_settings(config, {}, set()).django_settings == "shop.settings.production"


def test_readme_example_shows_every_key():
    """The README's configuration example is where users look up a key: it must show each one."""
    import re

    from migsafe.config import tomllib  # tomli on Python 3.10

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration\n", 1)[1]
    example = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    assert set(tomllib.loads(example)["tool"]["migsafe"]) == set(config_keys())


def test_deeply_nested_toml_is_a_config_error(tmp_path):
    """tomllib recurses per level of nesting; 5,000 levels raised RecursionError (a traceback)."""
    path = migsafe_toml(tmp_path, "select = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match=r"^migsafe.toml: invalid TOML: nested too deeply$"):
        load(path)


def test_full_pyproject(tmp_path):
    path = pyproject(tmp_path, """
[project]
name = "app"

[tool.migsafe]
dialect = "mysql"
target-version = "8.0"
fail-on = "warning"
select = []
ignore = ["missing-lock-timeout"]
exclude = ["legacy/**"]
start-after = { alembic = "3f2a9c1d", django = { billing = "0042_backfill", auth = "0003_x" }, sql = "V3__x.sql" }
sql-transaction = "per-file"
no-exec = true

[tool.migsafe.severity]
non-concurrent-drop-index = "error"
drop-column = "warning"
""")
    s = load(path)
    assert s.dialect == "mysql"
    assert s.target_version == "8.0"
    assert s.fail_on is Severity.WARNING
    assert s.select == ()
    assert s.ignore == ("missing-lock-timeout",)
    assert s.exclude == ("legacy/**",)
    assert s.start_after == StartAfter((
        ("alembic", "3f2a9c1d"), ("django", (("auth", "0003_x"), ("billing", "0042_backfill"))), ("sql", "V3__x.sql"),
    ))
    assert s.sql_transaction == "per-file"
    assert s.severity == (("drop-column", Severity.WARNING), ("non-concurrent-drop-index", Severity.ERROR))
    assert s.no_exec is True
    assert s.config_path == path


def test_migsafe_toml_top_level(tmp_path):
    path = migsafe_toml(tmp_path, 'dialect = "sqlite"\n[severity]\ndrop-table = "warning"\n')
    s = load(path)
    assert s.dialect == "sqlite"
    assert s.severity == (("drop-table", Severity.WARNING),)


def test_other_file_name_reads_top_level(tmp_path):
    path = tmp_path / "ci.toml"
    path.write_text('dialect = "mysql"\n')
    assert load(path).dialect == "mysql"


def test_start_after_as_table(tmp_path):
    path = pyproject(tmp_path, '[tool.migsafe.start-after]\nalembic = "abc"\n[tool.migsafe.start-after.django]\nshop = "0001_initial"\n')
    assert load(path).start_after == StartAfter((("alembic", "abc"), ("django", (("shop", "0001_initial"),))))


@pytest.mark.parametrize("value, expected", [('"14"', "14"), ("14", "14"), ("8.0", "8.0"), ('"8.0"', "8.0"),
                                             ('"8.0.32"', "8.0.32"), ('"mariadb-10.11"', "mariadb-10.11")])
def test_target_version_forms(tmp_path, value, expected):
    path = migsafe_toml(tmp_path, f"target-version = {value}\n")
    assert load(path).target_version == expected


def test_flags_win_over_file(tmp_path):
    path = pyproject(tmp_path, '[tool.migsafe]\ndialect = "sqlite"\nfail-on = "error"\nselect = ["drop-table"]\nexclude = ["a"]\n')
    s = load(path, {"dialect": "mysql", "fail-on": "warning", "select": ["drop-column"], "target-version": 15})
    assert s.dialect == "mysql"
    assert s.fail_on is Severity.WARNING
    assert s.select == ("drop-column",)
    assert s.target_version == "15"
    assert s.exclude == ("a",)  # not overridden: the file's value stays


def test_none_override_means_flag_not_given(tmp_path):
    path = migsafe_toml(tmp_path, 'dialect = "sqlite"\n')
    assert load(path, {"dialect": None}).dialect == "sqlite"


def test_overrides_without_file():
    assert load(None, {"no-exec": True, "ignore": ("drop-table",)}).ignore == ("drop-table",)


def test_unknown_override_key_is_a_bug():
    with pytest.raises(ValueError):
        load(None, {"dialet": "mysql"})


# --- errors: one line naming the key and the file ---------------------------------------


def test_unknown_key_pyproject(tmp_path):
    path = pyproject(tmp_path, '[tool.migsafe]\ndialet = "mysql"\n')
    assert error(path) == 'pyproject.toml: unknown key "dialet" in [tool.migsafe] (did you mean "dialect"?)'


def test_unknown_key_migsafe_toml(tmp_path):
    path = migsafe_toml(tmp_path, "colour = 1\n")
    assert error(path) == 'migsafe.toml: unknown key "colour"'


def test_file_named_relative_to_cwd(tmp_path):
    sub = tmp_path / "conf"
    sub.mkdir()
    path = migsafe_toml(sub, "colour = 1\n")
    assert error(path).startswith(str(Path("conf") / "migsafe.toml") + ": ")


@pytest.mark.parametrize("body, expected", [
    ('dialect = "postgres"', '"dialect" must be one of "postgresql", "mysql", "sqlite", got "postgres"'),
    ("dialect = 1", '"dialect" must be one of "postgresql", "mysql", "sqlite", got 1'),
    ('fail-on = "fatal"', '"fail-on" must be "error" or "warning", got "fatal"'),
    ('sql-transaction = "always"', '"sql-transaction" must be "none" or "per-file", got "always"'),
    ('target-version = "fifteen"', '"target-version" must be a version'),
    ("target-version = true", '"target-version" must be a version'),
    ("target-version = [15]", '"target-version" must be a version'),
    ('select = "drop-column"', '"select" must be a list of strings, got "drop-column"'),
    ("ignore = [1]", '"ignore" must be a list of strings, got [1]'),
    ('select = ["drop-colum"]', 'unknown rule "drop-colum" in "select" (did you mean "drop-column"?)'),
    ('ignore = ["nope"]', 'unknown rule "nope" in "ignore"'),
    ('exclude = "legacy/**"', '"exclude" must be a list of strings'),
    ('no-exec = "yes"', '"no-exec" must be true or false, got "yes"'),
    ('severity = "error"', '"severity" must be a table, got "error"'),
    ('severity = { drop-colum = "error" }', 'unknown rule "drop-colum" in "severity"'),
    ('severity = { drop-column = "fatal" }', '"severity.drop-column" must be "error" or "warning", got "fatal"'),
    ('start-after = "abc"', '"start-after" must be a table, got "abc"'),
    ('start-after = { flyway = "V3" }', 'unknown key "flyway" in "start-after"'),
    ("start-after = { alembic = 3 }", '"start-after.alembic" must be a non-empty string, got 3'),
    ('start-after = { sql = "" }', '"start-after.sql" must be a non-empty string'),
    ('start-after = { django = "0042" }', '"start-after.django" must be a table, got "0042"'),
    ("start-after = { django = { billing = 42 } }", '"start-after.django.billing" must be a non-empty string, got 42'),
])
def test_bad_values(tmp_path, body, expected):
    path = pyproject(tmp_path, f"[tool.migsafe]\n{body}\n")
    message = error(path)
    assert message.startswith("pyproject.toml: ")
    assert expected in message


def test_bad_value_in_migsafe_toml(tmp_path):
    path = migsafe_toml(tmp_path, 'fail-on = "fatal"\n')
    assert error(path) == 'migsafe.toml: "fail-on" must be "error" or "warning", got "fatal"'


def test_bad_flag_value_names_the_flag():
    assert error(None, {"select": ["drop-colum"]}) == 'unknown rule "drop-colum" in --select (did you mean "drop-column"?)'
    assert error(None, {"fail-on": "fatal"}) == '--fail-on must be "error" or "warning", got "fatal"'


def test_invalid_toml_names_the_line(tmp_path):
    path = pyproject(tmp_path, '[tool.migsafe]\ndialect = "mysql"\nfail-on = \n')
    message = error(path)
    assert message.startswith("pyproject.toml: invalid TOML: ")
    assert "line 3" in message


def test_missing_file(tmp_path):
    assert error(tmp_path / "nope.toml") == "nope.toml: config file does not exist"


def test_unreadable_file(tmp_path):
    assert "cannot read config" in error(tmp_path)  # a folder is not a readable file


def test_not_utf8(tmp_path):
    path = tmp_path / "migsafe.toml"
    path.write_bytes(b'dialect = "\xff"\n')
    assert error(path) == "migsafe.toml: cannot read config: not UTF-8 text"


def test_explicit_pyproject_without_table(tmp_path):
    path = pyproject(tmp_path, "[tool.black]\n")
    assert error(path) == "pyproject.toml: no [tool.migsafe] table"


def test_tool_migsafe_not_a_table(tmp_path):
    path = pyproject(tmp_path, "[tool]\nmigsafe = 1\n")
    assert error(path) == "pyproject.toml: [tool.migsafe] must be a table"

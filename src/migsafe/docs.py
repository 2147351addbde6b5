"""Rule pages: top-level rules/<id>.md, shipped in the wheel as migsafe/rule_docs/<id>.md.

A page starts with flat TOML front matter between `+++` lines holding its one-line `summary`; the
rule id is the file name, and what the code declares (severity, dialects) is asked of the registry,
never repeated on the page. Its fenced blocks whose info string holds `unsafe` or `safe` are examples the test
suite runs, e.g. ```sql safe target-version=10 also=missing-lock-timeout```. Blocks of kind
`history` (earlier migrations replayed before later examples) and `down` (the way back of the
example just above) are returned too; rules/README.md describes the conventions.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

_REQUIRED = {"summary"}
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
KINDS = ("unsafe", "safe", "history", "down")  # the info-string words that make a block an example


@dataclass(frozen=True)
class RuleDoc:
    id: str  # the file name
    summary: str
    body: str  # the page below the front matter
    path: Path
    body_line: int  # 1-based line of the body's first line in the file


@dataclass(frozen=True)
class Example:
    lang: str  # first word of the info string: "sql", "python"
    kind: str  # one of KINDS: "unsafe" | "safe" | "history" | "down"
    options: dict[str, str]  # key=value words, e.g. {"target-version": "10"}
    code: str
    line: int  # 1-based line in the .md file of the first code line
    flags: tuple[str, ...] = field(default=())  # other bare words, e.g. ("alembic",)


def rule_doc_dir() -> Path:
    packaged = resources.files("migsafe") / "rule_docs"
    if packaged.is_dir():  # installed wheel (force-include)
        return Path(str(packaged))
    # Source tree / editable install: src/migsafe/docs.py -> repository root.
    source = Path(__file__).resolve().parents[2] / "rules"
    if not source.is_dir():
        raise FileNotFoundError(f"rule pages not found in {packaged} or {source}")
    return source


def load_rule_doc(rule_id: str) -> RuleDoc:
    return parse_rule_doc(rule_doc_dir() / f"{rule_id}.md")


def all_rule_docs() -> list[RuleDoc]:
    pages = sorted(p for p in rule_doc_dir().glob("*.md") if p.name != "README.md")
    return sorted((parse_rule_doc(p) for p in pages), key=lambda d: d.id)


def parse_rule_doc(path: Path) -> RuleDoc:
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines[0].strip() != "+++":
        raise ValueError(f"{path}: no front matter: the page must start with a '+++' line")
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "+++"), None)
    if end is None:
        raise ValueError(f"{path}: front matter is not closed by a '+++' line")
    try:
        meta = tomllib.loads("\n".join(lines[1:end]))
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: bad front matter: {e}") from None
    missing, unknown = sorted(_REQUIRED - meta.keys()), sorted(meta.keys() - _REQUIRED)
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown {', '.join(unknown)} (severity and dialects are the code's, the id the file name)")
        raise ValueError(f"{path}: front matter keys: {'; '.join(problems)}")
    if not isinstance(meta["summary"], str) or not meta["summary"].strip():
        raise ValueError(f"{path}: summary must be a non-empty string")
    return RuleDoc(
        id=path.stem,
        summary=meta["summary"].strip(),
        body="\n".join(lines[end + 1 :]),
        path=path,
        body_line=end + 2,
    )


def reader_body(doc: RuleDoc) -> str:
    """The page as a reader sees it (`migsafe explain`): code fences keep their language only,
    not the test suite's words (```sql unsafe also=missing-lock-timeout -> ```sql)."""
    out = []
    for line in doc.body.split("\n"):
        opening = _FENCE.fullmatch(line)
        words = opening.group(2).split() if opening else []
        out.append(f"{line[:line.index(opening.group(1))]}{opening.group(1)}{words[0]}" if words else line)
    return "\n".join(out)


def iter_examples(doc: RuleDoc) -> list[Example]:
    lines = doc.body.split("\n")
    examples: list[Example] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.fullmatch(lines[i])
        if not opening:
            i += 1
            continue
        fence, words = opening.group(1), opening.group(2).split()
        where = f"{doc.path}:{doc.body_line + i}"
        # A block closes at a line of the same fence character, at least as long, nothing else.
        close = re.compile(rf" {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*")
        end = next((j for j in range(i + 1, len(lines)) if close.fullmatch(lines[j])), None)
        if end is None:
            raise ValueError(f"{where}: code block is not closed")
        kinds = [w for w in words if w in KINDS]
        if len(kinds) > 1:
            raise ValueError(f"{where}: a block has one kind, not both {kinds[0]!r} and {kinds[1]!r}")
        if kinds:
            if words[0] in kinds:
                raise ValueError(f"{where}: an example needs a language first: 'sql {kinds[0]}'")
            options = dict(w.split("=", 1) for w in words[1:] if "=" in w)
            flags = tuple(w for w in words[1:] if "=" not in w and w not in kinds)
            code = "".join(line + "\n" for line in lines[i + 1 : end])
            line = doc.body_line + i + 1
            examples.append(Example(words[0], kinds[0], options, code, line, flags))
        i = end + 1
    return examples

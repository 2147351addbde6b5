from pathlib import Path

import pytest

from migsafe import docs

PAGE = '''\
+++
summary = "Dropping a column that the running app version may still read or write."
+++

## Unsafe
```sql unsafe
ALTER TABLE users DROP COLUMN email;
```

## Safe alternative
```python alembic safe target-version=10 also=missing-lock-timeout
def upgrade():
    op.drop_column("users", "email")
```

Plain blocks are not examples:
```sql
SELECT 1;
```

````markdown
```sql unsafe
-- inside a longer fence: not an example
```
````
'''


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_front_matter_and_body(tmp_path):
    doc = docs.parse_rule_doc(write(tmp_path, "drop-column.md", PAGE))
    assert doc.id == "drop-column"  # the file name
    assert doc.summary.startswith("Dropping a column")
    assert doc.body.startswith("\n## Unsafe\n")
    assert doc.body_line == 4


def test_examples(tmp_path):
    doc = docs.parse_rule_doc(write(tmp_path, "drop-column.md", PAGE))
    unsafe, safe = docs.iter_examples(doc)
    assert (unsafe.lang, unsafe.kind, unsafe.options, unsafe.flags) == ("sql", "unsafe", {}, ())
    assert unsafe.code == "ALTER TABLE users DROP COLUMN email;\n"
    assert unsafe.line == 7
    assert PAGE.splitlines()[unsafe.line - 1] == "ALTER TABLE users DROP COLUMN email;"
    assert (safe.lang, safe.kind, safe.flags) == ("python", "safe", ("alembic",))
    assert safe.options == {"target-version": "10", "also": "missing-lock-timeout"}
    assert safe.line == 12
    assert safe.code == 'def upgrade():\n    op.drop_column("users", "email")\n'


@pytest.mark.parametrize(
    "page, problem",
    [
        ("## no front matter\n", "no front matter"),
        ('+++\nsummary = "x"\n', "not closed"),
        ("+++\nsummary = \n+++\n", "bad front matter"),
        (PAGE.replace('summary = "Dropping', 'summary = ""\nx = "'), "unknown x"),
        (PAGE.replace("summary = ", "title = "), "keys: missing summary; unknown title"),
        (PAGE.replace('summary = "Dropping', 'sumary = "Dropping'), "keys: missing summary; unknown sumary"),
        (PAGE.replace("+++\n", '+++\nseverity = "error"\n', 1), "unknown severity .severity and dialects are the code's"),
        (PAGE.replace('summary = "Dropping a column that the running app version may still read or write."',
                      'summary = "  "'), "summary must be a non-empty string"),
    ],
)
def test_bad_front_matter_names_the_file(tmp_path, page, problem):
    path = write(tmp_path, "drop-column.md", page)
    with pytest.raises(ValueError, match=problem) as info:
        docs.parse_rule_doc(path)
    assert str(info.value).startswith(f"{path}:")


@pytest.mark.parametrize(
    "block, problem",
    [
        ("```sql unsafe\nSELECT 1;\n", "not closed"),
        ("```sql safe unsafe\nSELECT 1;\n```\n", "not both"),
        ("```unsafe\nSELECT 1;\n```\n", "needs a language"),
    ],
)
def test_bad_blocks_name_file_and_line(tmp_path, block, problem):
    path = write(tmp_path, "drop-column.md", PAGE + "\n" + block)
    doc = docs.parse_rule_doc(path)
    with pytest.raises(ValueError, match=problem) as info:
        docs.iter_examples(doc)
    assert str(info.value).startswith(f"{path}:{len(PAGE.splitlines()) + 2}:")


def test_all_rule_docs_sorted_and_skips_readme(tmp_path, monkeypatch):
    write(tmp_path, "README.md", "# How to write a page\n")
    write(tmp_path, "drop-column.md", PAGE)
    write(tmp_path, "drop-table.md", PAGE.replace("drop-column", "drop-table"))
    monkeypatch.setattr(docs, "rule_doc_dir", lambda: tmp_path)
    assert [d.id for d in docs.all_rule_docs()] == ["drop-column", "drop-table"]
    assert docs.load_rule_doc("drop-table").path == tmp_path / "drop-table.md"


def test_rule_doc_dir_in_source_tree():
    # Editable install: the package has no rule_docs/, so the repository's rules/ is used.
    assert docs.rule_doc_dir() == Path(docs.__file__).resolve().parents[2] / "rules"


def test_explain_shows_clean_fences(run_cli):
    """The test suite's words on a page's code fences (`unsafe`, `also=...`, `file=...`) are not
    for readers: `migsafe explain` shows the language only."""
    import re

    from migsafe.docs import all_rule_docs

    for doc in all_rule_docs():
        code, out, _ = run_cli(["explain", doc.id])
        assert code == 0
        fences = [line for line in out.splitlines() if re.match(r"\s*(```|~~~)", line)]
        assert fences and all(len(line.split()) <= 1 for line in fences), (doc.id, fences)

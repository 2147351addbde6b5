import os
import re
import textwrap
from pathlib import Path

import pytest

from migsafe.errors import UsageError
from migsafe.sources.alembic.graph import (
    AlembicConfig,
    is_revision_file,
    is_script_dir,
    is_versions_dir,
    load_revisions,
    read_alembic_ini,
)

UPGRADE = 'def upgrade():\n    op.add_column("t", sa.Column("c", sa.Integer()))\n'
DOWNGRADE = 'def downgrade():\n    op.drop_column("t", "c")\n'


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        text = textwrap.dedent(text).encode("utf-8")
    path.write_bytes(text)
    return path


def rev(folder: Path, name: str, rid: str, down, *, extra: str = "", up: str = UPGRADE, down_fn: str = DOWNGRADE) -> Path:
    """A revision file the way `alembic revision` writes it (typed header)."""
    head = (
        f'"""{name}\n\nRevision ID: {rid}\nRevises: {down}\n"""\n'
        "from alembic import op\nimport sqlalchemy as sa\n\n"
        f"revision: str = {rid!r}\ndown_revision = {down!r}\n{extra}\n\n"
    )
    return write(folder / name, head + up + "\n\n" + down_fn)


def ids(graph) -> list[str]:
    return [r.id for r in graph.revisions]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # messages show paths relative to the working directory


# --- alembic.ini ---------------------------------------------------------------------------


def test_ini_here_and_default_versions(tmp_path):
    ini = write(tmp_path / "proj/alembic.ini", """\
        [alembic]
        script_location = %(here)s/migrations
        sqlalchemy.url = postgresql+psycopg2://u:p@localhost/db
    """)
    cfg = read_alembic_ini(ini)
    assert cfg == AlembicConfig(
        script_location=tmp_path / "proj/migrations",
        version_locations=[tmp_path / "proj/migrations/versions"],
        dialect="postgresql",
    )


def test_ini_relative_location_is_from_the_ini_folder(tmp_path):
    ini = write(tmp_path / "proj/alembic.ini", "[alembic]\nscript_location = db\n")
    assert read_alembic_ini(ini).script_location == tmp_path / "proj/db"


@pytest.mark.parametrize(
    "setting, expected",
    [
        ("version_locations = %(here)s/a %(here)s/b", ["a", "b"]),  # legacy: spaces
        ("version_locations = a, b,c", ["a", "b", "c"]),  # legacy: commas
        ("version_locations = a;b\npath_separator = ;", ["a", "b"]),
        ("version_locations = a:b\nversion_path_separator = :", ["a", "b"]),
        (f"version_locations = a{os.pathsep}dir b\npath_separator = os", ["a", "dir b"]),
        ("version_locations =\n    a\n    b\npath_separator = newline", ["a", "b"]),
    ],
)
def test_ini_version_locations(tmp_path, setting, expected):
    ini = write(tmp_path / "alembic.ini", "[alembic]\nscript_location = m\n" + setting + "\n")
    assert read_alembic_ini(ini).version_locations == [tmp_path / e for e in expected]


def test_ini_bad_path_separator(tmp_path):
    ini = write(tmp_path / "alembic.ini", "[alembic]\nscript_location = m\nversion_locations = a\npath_separator = tab\n")
    with pytest.raises(UsageError, match='path_separator "tab"'):
        read_alembic_ini(ini)


@pytest.mark.parametrize(
    "url, dialect",
    [
        ("postgresql+psycopg2://u:p@h/db", "postgresql"),
        ("postgresql://h/db", "postgresql"),
        ("postgres://h/db", "postgresql"),
        ("mysql+pymysql://u@h/db", "mysql"),
        ("mariadb+mariadbconnector://u@h/db", "mysql"),
        ("sqlite:///app.db", "sqlite"),
        ("sqlite+pysqlite:///:memory:", "sqlite"),
        ("driver://user:pass@localhost/dbname", None),  # alembic's template
        ("mssql+pyodbc://h/db", None),  # not a dialect migsafe judges
        ("${DATABASE_URL}", None),
        ("%(DB_URL)s", None),  # interpolation that only env.py could fill in
        ("", None),
    ],
)
def test_ini_dialect_from_url(tmp_path, url, dialect):
    ini = write(tmp_path / "alembic.ini", f"[alembic]\nscript_location = m\nsqlalchemy.url = {url}\n")
    assert read_alembic_ini(ini).dialect == dialect


def test_ini_without_url(tmp_path):
    ini = write(tmp_path / "alembic.ini", "[alembic]\nscript_location = m\n")
    assert read_alembic_ini(ini).dialect is None


@pytest.mark.parametrize(
    "value, folder",
    [
        ("myapp.db:migrations", "myapp/db/migrations"),
        ("myapp:db/migrations", "myapp/db/migrations"),
        ("myapp:db:migrations", "myapp/db/migrations"),  # each ":" part is a path step, as in Alembic
    ],
)
def test_ini_package_resource(tmp_path, value, folder):
    (tmp_path / folder).mkdir(parents=True)
    ini = write(tmp_path / "alembic.ini", f"[alembic]\nscript_location = {value}\n")
    assert read_alembic_ini(ini).script_location == tmp_path / folder


def test_ini_package_resource_in_src_or_above_the_ini(tmp_path):
    (tmp_path / "src/myapp/migrations").mkdir(parents=True)
    ini = write(tmp_path / "alembic.ini", "[alembic]\nscript_location = myapp:migrations\n")
    assert read_alembic_ini(ini).script_location == tmp_path / "src/myapp/migrations"
    # dagster: the ini deep inside the package names the package's own folder
    (tmp_path / "pkg/_core/storage/alembic").mkdir(parents=True)
    ini = write(tmp_path / "pkg/_core/storage/runs/alembic.ini",
                "[alembic]\nscript_location = pkg:_core/storage/alembic\n")
    assert read_alembic_ini(ini).script_location == tmp_path / "pkg/_core/storage/alembic"


def test_ini_package_resource_on_prepend_sys_path(tmp_path):
    (tmp_path / "lib/myapp/migrations").mkdir(parents=True)
    ini = write(tmp_path / "alembic.ini", "[alembic]\nscript_location = myapp:migrations\nprepend_sys_path = . lib\n")
    assert read_alembic_ini(ini).script_location == tmp_path / "lib/myapp/migrations"


def test_ini_package_resource_installed_is_located_not_imported(tmp_path, monkeypatch):
    site = tmp_path / "site"
    write(site / "installedpkg/__init__.py", "raise SystemExit('the package was imported')\n")
    write(site / "installedpkg/sub/__init__.py", "raise SystemExit('the package was imported')\n")
    (site / "installedpkg/sub/migrations").mkdir()
    monkeypatch.syspath_prepend(str(site))
    ini = write(tmp_path / "proj/alembic.ini", "[alembic]\nscript_location = installedpkg.sub:migrations\n")
    assert read_alembic_ini(ini).script_location == site / "installedpkg/sub/migrations"


def test_ini_package_resource_not_found(tmp_path):
    ini = write(tmp_path / "alembic.ini", "[alembic]\nscript_location = nowhere:migrations\n")
    with pytest.raises(UsageError) as e:
        read_alembic_ini(ini)
    assert str(e.value) == ('alembic: alembic.ini: "nowhere:migrations": package nowhere was found neither '
                            "beside alembic.ini or in a folder above it, nor installed")


def test_ini_version_location_as_package_resource(tmp_path):
    (tmp_path / "plugin/migrations").mkdir(parents=True)
    ini = write(tmp_path / "alembic.ini",
                "[alembic]\nscript_location = m\nversion_locations = plugin:migrations m/versions\n")
    assert read_alembic_ini(ini).version_locations == [tmp_path / "plugin/migrations", tmp_path / "m/versions"]


@pytest.mark.parametrize("setting, value", [("true", True), ("True", False), ("false", False), (None, False)])
def test_ini_flags_as_alembic_reads_them(tmp_path, setting, value):
    extra = f"sourceless = {setting}\nrecursive_version_locations = {setting}\n" if setting else ""
    ini = write(tmp_path / "alembic.ini", "[alembic]\nscript_location = m\n" + extra)
    cfg = read_alembic_ini(ini)
    assert cfg.sourceless is value and cfg.recursive is value  # Alembic: the string "true" only


def test_ini_paths_from_pyproject(tmp_path):
    # alembic >= 1.16 "pyproject" template: the ini keeps only the url and logging
    write(tmp_path / "pyproject.toml", """\
        [tool.alembic]
        script_location = "%(here)s/alembic"
        version_locations = ["%(here)s/alembic/versions", "%(here)s/plugins"]
    """)
    ini = write(tmp_path / "alembic.ini", "[alembic]\nsqlalchemy.url = sqlite:///x.db\n")
    cfg = read_alembic_ini(ini)
    assert cfg.script_location == tmp_path / "alembic"
    assert cfg.version_locations == [tmp_path / "alembic/versions", tmp_path / "plugins"]
    assert cfg.dialect == "sqlite"


def test_ini_in_a_flask_migrate_folder(tmp_path):
    # Flask-Migrate: migrations/alembic.ini without script_location, next to env.py and versions/
    ini = write(tmp_path / "migrations/alembic.ini", "[alembic]\n# template used to generate migration files\n")
    write(tmp_path / "migrations/env.py", "")
    (tmp_path / "migrations/versions").mkdir()
    cfg = read_alembic_ini(ini)
    assert cfg.script_location == tmp_path / "migrations"
    assert cfg.version_locations == [tmp_path / "migrations/versions"]
    # mlflow: a script_location relative to the app's working directory, not to the ini
    write(ini, "[alembic]\nscript_location = mlflow/store/db_migrations\n")
    assert read_alembic_ini(ini).script_location == tmp_path / "migrations"


@pytest.mark.parametrize(
    "text, message",
    [
        ("[other]\nx = 1\n", "no script_location in section [alembic]"),
        ("[alembic]\nsqlalchemy.url = sqlite://\n", "no script_location in section [alembic]"),
        ("not an ini", "alembic.ini: cannot be read"),
        (b"[alembic]\nscript_location = \xff\n", "alembic.ini: cannot be read"),
    ],
)
def test_ini_errors_are_one_line(tmp_path, text, message):
    ini = write(tmp_path / "alembic.ini", text)
    with pytest.raises(UsageError, match=re.escape(message)) as e:
        read_alembic_ini(ini)
    assert "\n" not in str(e.value)


# --- recognising folders and files ---------------------------------------------------------


def test_recognisers(tmp_path):
    versions = tmp_path / "migrations/versions"
    r = rev(versions, "0001_a.py", "aaa", None)
    helper = write(versions / "helpers.py", "def f():\n    revision = 1\n")
    write(tmp_path / "migrations/env.py", "")
    assert is_script_dir(tmp_path / "migrations") and not is_script_dir(versions)
    assert is_versions_dir(versions) and not is_versions_dir(tmp_path / "migrations")
    assert is_revision_file(r) and not is_revision_file(helper)
    assert not is_revision_file(write(versions / "__init__.py", 'revision = "x"\ndown_revision = None\n'))
    only_rev = write(tmp_path / "other.py", 'revision = "x"\n')
    assert not is_revision_file(only_rev)  # both names are needed to recognise one
    broken = write(tmp_path / "broken.py", 'revision = "x"\ndown_revision = None\ndef upgrade(:\n')
    assert is_revision_file(broken)  # it must be reported, not ignored


# --- order ---------------------------------------------------------------------------------


def test_linear_chain_order_does_not_follow_file_names(tmp_path):
    v = tmp_path / "versions"
    rev(v, "z_first.py", "c0ffee01", None)
    rev(v, "a_third.py", "0000beef", "77770002")
    rev(v, "m_second.py", "77770002", "c0ffee01")
    rev(v, "0_fourth.py", "ffff0004", "0000beef")
    graph = load_revisions([v])
    assert ids(graph) == ["c0ffee01", "77770002", "0000beef", "ffff0004"]
    assert graph.broken_files == []
    first = graph.revisions[0]
    assert first.down_revisions == () and not first.is_merge and first.path == v / "z_first.py"


def test_branches_and_merge(tmp_path):
    v = tmp_path / "versions"
    rev(v, "1.py", "base", None)
    rev(v, "2.py", "b1", "base")
    rev(v, "3.py", "b2", "b1")
    rev(v, "4.py", "a1", "base")
    rev(v, "5.py", "a2", "a1")
    rev(v, "6.py", "merge", ("b2", "a2"), up="def upgrade():\n    pass\n", down_fn="def downgrade():\n    pass\n")
    rev(v, "7.py", "after", "merge")
    graph = load_revisions([v])
    # each branch is replayed whole, parent before child; the merge after both branches
    assert ids(graph) == ["base", "a1", "a2", "b1", "b2", "merge", "after"]
    merge = graph.revisions[5]
    assert merge.is_merge and merge.down_revisions == ("b2", "a2")
    assert merge.irreversible is None


def test_down_revision_forms(tmp_path):
    v = tmp_path / "versions"
    write(v / "a.py", "revision = 'a'\ndown_revision: Union[str, None] = None\n")
    write(v / "b.py", "revision: str = 'b'\ndown_revision = ['a']\nbranch_labels = 'feature'\n")
    write(v / "c.py", "revision = 'c'\ndown_revision = ('b',)\ndepends_on: Sequence[str] | None = None\n")
    graph = load_revisions([v])
    assert ids(graph) == ["a", "b", "c"]
    assert graph.revisions[1].branch_labels == ("feature",)
    assert not graph.revisions[2].is_merge  # a one-element tuple is not a merge


def test_depends_on_across_branches(tmp_path):
    v = tmp_path / "versions"
    rev(v, "1.py", "root", None)
    rev(v, "2.py", "aaa1", "root")
    rev(v, "3.py", "aaa2", "aaa1", extra="depends_on = 'zzz2'")  # by id
    rev(v, "4.py", "zzz1", "root", extra="branch_labels = ('billing',)")
    rev(v, "5.py", "zzz2", "zzz1")
    rev(v, "6.py", "aaa3", "aaa2", extra="depends_on = ['billing', 'zzz1']")  # by label
    graph = load_revisions([v])
    order = ids(graph)
    assert order.index("zzz2") < order.index("aaa2")
    assert order.index("zzz1") < order.index("aaa3")
    assert order == ["root", "aaa1", "zzz1", "zzz2", "aaa2", "aaa3"]
    assert graph.revisions[4].depends_on == ("zzz2",)


def test_depends_on_by_prefix(tmp_path):
    v = tmp_path / "versions"
    rev(v, "1.py", "1111aaaa", None)
    rev(v, "2.py", "2222bbbb", None, extra="depends_on = '1111'")
    assert ids(load_revisions([v])) == ["1111aaaa", "2222bbbb"]


def test_several_version_locations_form_one_graph(tmp_path):
    rev(tmp_path / "core", "1.py", "c1", None)
    rev(tmp_path / "plugin", "p1.py", "p1", "c1")
    rev(tmp_path / "core", "2.py", "c2", "p1")
    graph = load_revisions([tmp_path / "core", tmp_path / "plugin", tmp_path / "core"])
    assert ids(graph) == ["c1", "p1", "c2"]


def test_sub_folders_of_a_version_location_are_read(tmp_path):
    # recursive_version_locations, or neutron-db-manage adding each release's folders at run time
    rev(tmp_path / "v", "1.py", "r1", None)
    rev(tmp_path / "v/2024", "2.py", "r2", "r1")
    rev(tmp_path / "v/liberty/expand", "3.py", "r3", "r2", extra="branch_labels = ('expand',)")
    rev(tmp_path / "v/liberty/contract", "4.py", "r4", "r2", extra="depends_on = ('expand',)")
    write(tmp_path / "v/.ipynb_checkpoints/1-checkpoint.py", "revision = 'r1'\ndown_revision = None\n")
    write(tmp_path / "v/2024/__pycache__/2.cpython-312.py", "revision = 'r2'\ndown_revision = None\n")
    assert ids(load_revisions([tmp_path / "v"])) == ["r1", "r2", "r3", "r4"]
    # a folder listed beside the one that holds it: each file is read once, as Alembic does
    assert ids(load_revisions([tmp_path / "v", tmp_path / "v/2024"])) == ["r1", "r2", "r3", "r4"]


def test_order_is_deterministic(tmp_path):
    v = tmp_path / "versions"
    rev(v, "r.py", "r", None)
    for i in range(6):
        rev(v, f"x{i}.py", f"k{5 - i}", "r")
    assert ids(load_revisions([v])) == ["r", "k0", "k1", "k2", "k3", "k4", "k5"]


def test_graph_find_and_ancestors(tmp_path):
    v = tmp_path / "versions"
    rev(v, "1.py", "root1", None)
    rev(v, "2.py", "a1", "root1", extra="branch_labels = 'side'")
    rev(v, "3.py", "b1", "root1")
    rev(v, "4.py", "b2", "b1", extra="depends_on = 'a1'")
    graph = load_revisions([v])
    assert graph.find("side").id == "a1" and graph.find("b2").id == "b2"
    assert graph.ancestors("b2") == {"root1", "a1", "b1", "b2"}
    assert graph.ancestors("b1") == {"root1", "b1"}
    with pytest.raises(UsageError, match='start-after "b" matches several revisions'):
        graph.find("b")
    with pytest.raises(UsageError, match='start-after "nope" is not a revision'):
        graph.find("nope")


# --- broken graphs -------------------------------------------------------------------------


def test_missing_parent(tmp_path):
    v = tmp_path / "migrations/versions"
    rev(v, "1.py", "a", None)
    rev(v, "3f2a_x.py", "3f2a", "abc")
    with pytest.raises(UsageError) as e:
        load_revisions([v])
    assert str(e.value) == (
        'alembic: migrations/versions/3f2a_x.py: down_revision "abc" is not a revision in migrations/versions/'
    )


def test_unknown_depends_on(tmp_path):
    v = tmp_path / "versions"
    rev(v, "1.py", "a", None, extra="depends_on = 'nolabel'")
    with pytest.raises(UsageError, match=r'versions/1.py: depends_on "nolabel" is not a revision in versions/$'):
        load_revisions([v])


def test_cycle_names_the_files(tmp_path):
    v = tmp_path / "versions"
    rev(v, "0.py", "root", None)
    rev(v, "1.py", "a", "c")
    rev(v, "2.py", "b", "a")
    rev(v, "3.py", "c", "b")
    rev(v, "4.py", "d", "c")  # a descendant of the cycle, not part of it
    with pytest.raises(UsageError) as e:
        load_revisions([v])
    assert str(e.value) == (
        "alembic: revisions form a cycle: versions/1.py -> versions/3.py -> versions/2.py -> versions/1.py"
    )


def test_self_cycle_and_depends_on_cycle(tmp_path):
    rev(tmp_path / "v1", "1.py", "a", "a")
    with pytest.raises(UsageError, match="cycle: v1/1.py -> v1/1.py"):
        load_revisions([tmp_path / "v1"])
    rev(tmp_path / "v2", "1.py", "a", None, extra="depends_on = 'b'")
    rev(tmp_path / "v2", "2.py", "b", "a")
    with pytest.raises(UsageError, match="cycle: v2/1.py -> v2/2.py -> v2/1.py"):
        load_revisions([tmp_path / "v2"])


def test_duplicate_id_names_both_files(tmp_path):
    rev(tmp_path / "core", "1.py", "same", None)
    rev(tmp_path / "plugin", "9.py", "same", None)
    with pytest.raises(UsageError) as e:
        load_revisions([tmp_path / "core", tmp_path / "plugin"])
    assert str(e.value) == 'alembic: revision id "same" is defined twice: core/1.py and plugin/9.py'


def test_duplicate_branch_label(tmp_path):
    v = tmp_path / "versions"
    rev(v, "1.py", "a", None, extra="branch_labels = 'x'")
    rev(v, "2.py", "b", None, extra="branch_labels = ('x',)")
    with pytest.raises(UsageError, match='branch label "x" is used twice: versions/1.py and versions/2.py'):
        load_revisions([v])


def test_missing_version_location(tmp_path):
    with pytest.raises(UsageError, match="version location nowhere is not a folder"):
        load_revisions([tmp_path / "nowhere"])


# --- files that are not revisions, or cannot be read ---------------------------------------


def test_files_alembic_never_loads_are_ignored(tmp_path):
    v = tmp_path / "versions"
    rev(v, "1.py", "a", None)
    write(v / "__init__.py", "")
    write(v / "__init__backup.py", "")  # Alembic's pattern: any name starting __init__
    write(v / ".#1.py", "emacs lock")
    write(v / "notes.txt", "revision = 'zz'\n")
    write(v / "1.pyc", b"\x00compiled")  # not sourceless
    graph = load_revisions([v])
    assert ids(graph) == ["a"] and graph.broken_files == []


REFUSED = "the file assigns no module-level revision: Alembic refuses it"


@pytest.mark.parametrize(
    "name, text, error",
    [
        ("2_empty.py", "", REFUSED),
        ("2_garbage.py", "this is not a revision\n", "file does not parse: invalid syntax"),
        ("_helpers.py", "import sqlalchemy as sa\n\ndef make():\n    return sa.Column('x')\n", REFUSED),
        (".hidden.py", "x = 1\n", REFUSED),
    ],
)
def test_a_file_alembic_refuses_is_reported(tmp_path, name, text, error):
    # `alembic upgrade` stops on it: "Could not determine revision id from filename"
    v = tmp_path / "versions"
    rev(v, "1.py", "a", None)
    write(v / name, text)
    graph = load_revisions([v])
    assert ids(graph) == ["a"]
    [bad] = graph.broken_files
    assert bad.path == v / name and bad.id is None and bad.error_line == 1
    assert bad.error.startswith(error)


def test_legacy_file_name_is_the_revision_id(tmp_path):
    # Alembic 0.1 layout: no `revision`, the id is the (hexadecimal) file name
    v = tmp_path / "versions"
    write(v / "ae10.py", "down_revision = None\n")
    write(v / "bb20.py", "down_revision = 'ae10'\n")
    write(v / "cc30.py", "")  # Alembic: the module has no attribute down_revision
    graph = load_revisions([v])
    assert ids(graph) == ["ae10", "bb20", "cc30"]
    assert graph.revisions[2].error == "the file has no module-level down_revision"


def test_sourceless_compiled_revisions_without_source_are_reported(tmp_path):
    v = tmp_path / "versions"
    rev(v, "1.py", "a", None)
    write(v / "__pycache__/1.cpython-312.pyc", b"\x00")  # its source is there: not loaded
    write(v / "__pycache__/2.cpython-312.pyc", b"\x00")  # source deleted: Alembic loads it
    write(v / "3.pyc", b"\x00")
    write(v / "1.pyc", b"\x00")  # beside its source: not loaded
    graph = load_revisions([v], sourceless=True)
    assert ids(graph) == ["a"]
    assert [r.path.name for r in graph.broken_files] == ["3.pyc", "2.cpython-312.pyc"]
    assert graph.broken_files[0].error.startswith("a compiled revision without its source")
    assert load_revisions([v]).broken_files == []


def test_syntax_error_keeps_its_place(tmp_path):
    v = tmp_path / "versions"
    rev(v, "1.py", "a", None)
    rev(v, "2.py", "b", "a", up="def upgrade(:\n    pass\n")
    rev(v, "3.py", "c", "b")
    graph = load_revisions([v])
    assert ids(graph) == ["a", "b", "c"]
    bad = graph.revisions[1]
    assert bad.error.startswith("file does not parse: ")
    assert bad.error_line == line_of(bad.path, "def upgrade(:")
    assert bad.down_revisions == ("a",) and bad.irreversible is None


def test_not_utf8(tmp_path):
    v = tmp_path / "versions"
    write(v / "1.py", b"revision = 'a'\ndown_revision = None\n# caf\xe9\ndef upgrade():\n    pass\n")
    (bad,) = load_revisions([v]).revisions
    assert bad.id == "a" and bad.error == "file is not valid UTF-8 (byte 0xe9 at offset 41)"
    assert bad.error_line == 3


def test_coding_cookie_is_honoured(tmp_path):
    v = tmp_path / "versions"
    write(v / "1.py", b"# -*- coding: latin-1 -*-\nrevision = 'a'\ndown_revision = None\n# caf\xe9\n")
    (ok,) = load_revisions([v]).revisions
    assert ok.error is None


def test_broken_files_without_an_id(tmp_path):
    v = tmp_path / "versions"
    rev(v, "1.py", "a", None)
    write(v / "2.py", "def upgrade(:\n")  # no id to salvage
    write(v / "3.py", "revision = make_id()\ndown_revision = 'a'\n")
    graph = load_revisions([v])
    assert ids(graph) == ["a"]
    assert [(r.path.name, r.id, r.error_line) for r in graph.broken_files] == [("2.py", None, 1), ("3.py", None, 1)]
    assert graph.broken_files[0].error.startswith("file does not parse")
    assert graph.broken_files[1].error == "revision is not a literal (string, tuple of strings or None)"


def test_non_literal_down_revision_is_an_error_not_a_crash(tmp_path):
    v = tmp_path / "versions"
    write(v / "1.py", "revision = 'a'\nimport x\ndown_revision = parent()\n")
    write(v / "2.py", "revision = 'b'\n")
    graph = load_revisions([v])
    by_id = {r.id: r for r in graph.revisions}
    assert by_id["a"].error == "down_revision is not a literal (string, tuple of strings or None)"
    assert by_id["a"].error_line == 3
    assert by_id["b"].error == "the file has no module-level down_revision"


def test_names_bound_to_constants_of_the_project_are_read(tmp_path):
    # OpenStack: the branch labels are constants of the project's own modules
    write(tmp_path / "proj/neutron/__init__.py", "")
    write(tmp_path / "proj/neutron/db/__init__.py", "import os\nraise SystemExit('imported')\n")
    write(tmp_path / "proj/neutron/db/cli.py", "EXPAND_BRANCH = 'expand'\nCONTRACT_BRANCH = 'contract'\n")
    write(tmp_path / "proj/neutron/db/migration.py", "FIRST = 'k0'\n")
    v = tmp_path / "proj/neutron/db/versions"
    write(v / "__init__.py", "")
    write(v / "0.py", "revision = 'k0'\ndown_revision = None\n")
    write(v / "e/1.py", "from neutron.db import cli\nrevision = 'e1'\ndown_revision = 'k0'\n"
                        "branch_labels = (cli.EXPAND_BRANCH,)\n")
    write(v / "c/2.py", "import neutron.db.migration\nfrom neutron.db.cli import CONTRACT_BRANCH as C\n"
                        "revision = 'c1'\ndown_revision = neutron.db.migration.FIRST\nbranch_labels = C\n"
                        "DEP = 'expand'\ndepends_on = [DEP]\n")
    graph = load_revisions([v])
    assert ids(graph) == ["k0", "e1", "c1"]
    e1, c1 = graph.revisions[1:]
    assert (e1.error, e1.branch_labels) == (None, ("expand",))
    assert (c1.error, c1.branch_labels, c1.down_revisions, c1.depends_on) == (None, ("contract",), ("k0",), ("expand",))
    write(v / "c/3.py", "from neutron.db import cli\nrevision = 'c3'\ndown_revision = 'c1'\nbranch_labels = cli.NOPE\n")
    [c3] = [r for r in load_revisions([v]).revisions if r.id == "c3"]
    assert c3.error == "branch_labels is not a literal (string, tuple of strings or None)"


def test_docstring_revision_id_is_not_authoritative(tmp_path):
    v = tmp_path / "versions"
    write(v / "1.py", '"""x\n\nRevision ID: fromdoc\nRevises:\n"""\nrevision = "fromcode"\ndown_revision = None\n')
    assert ids(load_revisions([v])) == ["fromcode"]


# --- irreversible-migration ----------------------------------------------------------------


def line_of(path: Path, prefix: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(prefix))


def one(tmp_path, up: str, down_fn: str, down=None):
    v = tmp_path / "versions"
    if down:
        for parent in down:
            rev(v, f"{parent}.py", parent, None)
    rev(v, "x.py", "3f2a9c1d", down, up=up, down_fn=down_fn)
    return next(r for r in load_revisions([v]).revisions if r.id == "3f2a9c1d")


@pytest.mark.parametrize(
    "down_fn, at, reason",
    [
        ("", "def upgrade", "revision 3f2a9c1d has no downgrade()"),
        ("def downgrade():\n    pass\n", "def downgrade", "downgrade() of revision 3f2a9c1d is empty"),
        ('def downgrade():\n    """Nothing."""\n    ...\n', "def downgrade", "downgrade() of revision 3f2a9c1d is empty"),
        ("def downgrade() -> None:\n    # no way back\n    pass\n", "def downgrade", "downgrade() of revision 3f2a9c1d is empty"),
        (
            'def downgrade():\n    """No."""\n    raise NotImplementedError("irreversible")\n',
            "def downgrade",
            "downgrade() of revision 3f2a9c1d raises NotImplementedError",
        ),
        ("def downgrade():\n    raise Exception\n", "def downgrade", "downgrade() of revision 3f2a9c1d raises Exception"),
        ("def downgrade():\n    raise alembic.util.CommandError('x')\n", "def downgrade", "downgrade() of revision 3f2a9c1d raises alembic.util.CommandError"),
    ],
)
def test_irreversible(tmp_path, down_fn, at, reason):
    r = one(tmp_path, UPGRADE, down_fn)
    line = line_of(r.path, at)
    assert r.irreversible == (line, f"{reason}: there is no way back if the deploy must be rolled back.")


@pytest.mark.parametrize(
    "up, down_fn",
    [
        (UPGRADE, DOWNGRADE),  # a real way back
        (UPGRADE, "def downgrade():\n    if op.get_bind().dialect.name == 'x':\n        raise ValueError\n"),
        ("def upgrade():\n    pass\n", "def downgrade():\n    pass\n"),  # empty migration
        ('def upgrade():\n    """Nothing to do."""\n', ""),
    ],
)
def test_reversible(tmp_path, up, down_fn):
    assert one(tmp_path, up, down_fn).irreversible is None


def test_merge_is_never_irreversible(tmp_path):
    r = one(tmp_path, UPGRADE, "def downgrade():\n    pass\n", down=("p1", "p2"))
    assert r.is_merge and r.irreversible is None


def test_lines_of_upgrade_and_downgrade(tmp_path):
    r = one(tmp_path, UPGRADE, DOWNGRADE)
    assert r.upgrade_line == line_of(r.path, "def upgrade") == 13
    assert r.downgrade_line == line_of(r.path, "def downgrade") == 17
    assert r.irreversible is None

"""docs/peers.md is what migsafe reports now on each migration of docs/peers.toml.

After a change of rules, refresh it with `.venv/bin/python scripts/peers.py` (the table then shows
the new verdicts; review the diff: a hazard that lost its finding is a regression).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _peers():
    spec = importlib.util.spec_from_file_location("peers", REPO / "scripts" / "peers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_peers_table_is_what_migsafe_reports():
    peers = _peers()
    mapping = peers.tomllib.loads(peers.MAPPING.read_text(encoding="utf-8"))
    assert peers.TABLE.read_text(encoding="utf-8") == peers.render(mapping), (
        "docs/peers.md is not what migsafe reports now: run .venv/bin/python scripts/peers.py and review the diff")


def test_every_row_names_known_peer_ids():
    """A row names peers as tool:id with an id from the [peers] lists, and has a migration."""
    peers = _peers()
    mapping = peers.tomllib.loads(peers.MAPPING.read_text(encoding="utf-8"))
    known = {f"{tool}:{rule}" for tool, ids in mapping["peers"].items() for rule in ids}
    for row in mapping["row"]:
        assert set(row["peers"]) <= known, (row["hazard"], set(row["peers"]) - known)
        assert ("sql" in row) != ("django" in row), row["hazard"]
    assert set(mapping["peers"]) == set(mapping["sources"]) == set(peers.PEER_NAMES)


def test_said_marks_silence():
    peers = _peers()
    assert peers.said([], {}) == "**no word**"
    assert peers.said([], {"out_of_scope": "style"}) == "nothing (out of scope: style)"
    assert peers.said(["drop-column"], {"out_of_scope": "x"}) == "`drop-column`"

"""`migsafe trace`: every statement the history ran on the scratch database, with what the server
showed for it (file:line, statement, locks, rewrite, scan, ms); text or JSON."""

from __future__ import annotations

import json
from typing import TextIO

from migsafe.database.probe import Evidence
from migsafe.model import Migration

_WIDTH = 60  # statement column of the text table


def rows_of(migrations: list[Migration]) -> list[dict]:
    """One entry per statement, per failed or not-run migration, per note, in run order."""
    out = []
    for m in migrations:
        for note in m.notes:  # (said before the statements: the tables were filled first)
            out.append({"path": m.path, "line": 1, "source": m.source, "migration": m.name, "note": note})
        for s in m.statements:
            entry = {"path": m.path, "line": s.span.line, "source": m.source, "migration": m.name,
                     "statement": s.sql}
            if s.evidence is not None:
                entry.update(s.evidence.to_json())
                entry["rewritten"] = list(s.evidence.rewritten)
                entry["scanned"] = list(s.evidence.scanned)
            out.append(entry)
        if m.error is not None:
            out.append({"path": m.path, "line": m.error_line, "source": m.source, "migration": m.name,
                        "error": m.error})
    return out


def render_json(migrations: list[Migration], version: str, out: TextIO) -> None:
    versions = sorted({s.evidence.server_version for m in migrations for s in m.statements
                       if s.evidence is not None and s.evidence.server_version})
    document = {"schema_version": 1, "migsafe_version": version, "server_version": ", ".join(versions),
                "statements": rows_of(migrations)}
    out.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def render_text(migrations: list[Migration], out: TextIO) -> None:
    table = [("where", "statement", "locks", "rewrite", "scan", "ms")]
    remarks: dict[int, list[str]] = {}  # errors and notes, written after the table row they follow
    for entry in rows_of(migrations):
        where = f"{entry['path']}:{entry['line']}"
        if "error" in entry or "note" in entry:
            said = f"error: {entry['error']}" if "error" in entry else f"note: {entry['note']}"
            remarks.setdefault(len(table), []).append(f"{where}  {said}")
        elif "ms" not in entry:
            table.append((where, _short(entry["statement"]), "?", "?", "?", "?"))
        else:
            taken = Evidence(locks=tuple((lock["relation"], lock["mode"]) for lock in entry["locks"]))
            locks = ", ".join(f"{mode} {relation}" for relation, mode in taken.strongest()) or "-"
            table.append((where, _short(entry["statement"]), locks, ", ".join(entry["rewritten"]) or "-",
                          ", ".join(entry["scanned"]) or "-", f"{entry['ms']:.1f}"))
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for index, row in enumerate(table):
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[5].rjust(7) + "\n")
        for line in remarks.get(index + 1, ()):
            out.write(line + "\n")
    statements = sum(len(m.statements) for m in migrations)
    failed = sum(1 for m in migrations if m.error is not None)
    out.write(f"\n{statements} statement{'s' if statements != 1 else ''} in {len(migrations)} migration"
              f"{'s' if len(migrations) != 1 else ''}" + (f"; {failed} not run to the end" if failed else "") + ".\n")


def _short(sql: str) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= _WIDTH else text[: _WIDTH - 1] + "…"

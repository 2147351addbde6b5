"""Judging: each migration's statements translated into facts, each fact judged by the rules
interested in its type against the schema as it stood just before it, then replayed into the
schema; findings then pass suppression comments, select/ignore and severity overrides.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

from migsafe import plans as P
from migsafe import rules as R
from migsafe.cache import Cache, Translations
from migsafe.config import Settings
from migsafe.dialects import get_dialect
from migsafe.fixes import names_at, render_fix
from migsafe.model import Finding, Fix, Migration, Result, Severity, Span, Statement
from migsafe.schema import Schema
from migsafe.sources.registry import source as source_named
from migsafe.sql import facts as F
from migsafe.suppress import parse_suppressions


def analyze(migrations: Iterable[Migration], settings: Settings, files: int | None = None,
            cache: Cache | None = None, prefetch: list[str] = ()) -> Result:
    """Judge the migrations in order (taken one at a time: a source may still be rendering the
    next). `files`: how many files they came from, if not one each. `prefetch`: statement texts
    known ahead, translated all at once (Translations.prefetch)."""
    if settings.dialect is None:
        settings = dataclasses.replace(settings, dialect="postgresql")
    dialect = get_dialect(settings.dialect, settings.target_version)
    active = [r for r in R.all_rules() if settings.dialect in r.dialects and selected(r.id, settings)]
    by_fact: dict[type, list[R.Rule]] = {}
    schema = Schema()
    severities = R.default_severities()
    severities.update(dict(settings.severity))
    findings: list[Finding] = []
    statements = 0
    translations = Translations(cache or Cache(None), dialect_name(dialect), Path.cwd())  # cwd: one entry per repository
    translations.prefetch(list(prefetch))
    judged: list[Migration] = []
    suppressed: list[Finding] = []
    for index, migration in enumerate(migrations):
        judged.append(migration)
        migration.runner_lock_timeout = migration.runner_lock_timeout or settings.runner_sets_lock_timeout
        raw = judge(migration, index, schema, dialect, active, by_fact, translations)
        statements += len(migration.statements)
        if migration.report:
            findings += finish(raw, migration, settings, severities, suppressed)
    translations.save()
    findings.sort(key=Finding.sort_key)
    return Result(findings, len(judged) if files is None else files, len(judged), statements, settings.dialect,
                  dialect.version_text, checked=[(m.source, m.name, m.path) for m in judged if m.report],
                  suppressed=len(suppressed))


def selected(rule_id: str, settings: Settings) -> bool:
    return (not settings.select or rule_id in settings.select) and rule_id not in settings.ignore


def rules_for(fact: F.Fact, active: list[R.Rule], cache: dict[type, list[R.Rule]]) -> list[R.Rule]:
    kind = type(fact)
    if kind not in cache:
        cache[kind] = [r for r in active if isinstance(fact, r.facts)]
    return cache[kind]


def judge(migration: Migration, index: int, schema: Schema, dialect, active: list[R.Rule],
          cache: dict[type, list[R.Rule]], translations: Translations) -> list[Finding]:
    """Findings of one migration (before suppression), replaying it into `schema`."""
    out: list[Finding] = []
    if migration.error is not None:
        # What the migration did before it failed (a revision that raises halfway) is still judged.
        line = migration.error_line
        out.append(finding(migration, "not-analyzed", f"Could not analyse this migration: {migration.error}",
                           Span(line, 1, line, 1)))
    if migration.error is not None or migration.unreadable:
        schema.gaps.add("migration")  # what it did is not all known (Schema.knows_all)

    def facts_of(stmt: Statement) -> list[F.Fact]:
        return stmt.facts if stmt.facts is not None else translations.facts(stmt.sql)

    in_tx = migration.starts_in_transaction
    timeout_set = migration.runner_lock_timeout
    state: set[str] = set()
    transaction: dict[str, object] = {}  # ctx.transaction: rules' store, one per transaction
    transaction_of = schema.tx
    changed = False
    schema.tx += 1  # a migration never shares a transaction with the one before
    for stmt in migration.statements:
        if not (stmt.in_transaction if stmt.in_transaction is not None else in_tx):
            schema.tx += 1  # outside a transaction block every statement is its own transaction
        facts = facts_of(stmt)
        for fact in facts:
            if isinstance(fact, F.ParseFailed):
                out.append(finding(migration, "not-analyzed", f"Could not parse this statement: {fact.message}",
                                   parse_failure_span(migration, stmt, fact), stmt))
                continue
            if isinstance(fact, F.Begin):
                in_tx = True
                schema.tx += 1
            elif isinstance(fact, F.Commit):
                in_tx = False
            elif isinstance(fact, F.SetSetting) and fact.name == dialect.lock_timeout_setting:
                timeout_set = fact.value.strip("'\" ") not in ("", "0", "0s", "0ms", "default")
            elif not isinstance(fact, (F.Harmless, F.SetSetting)):
                changed = True
            # History (not reported) is only replayed: rules keep nothing from one migration to
            # the next but the schema (ctx.state is per migration, ctx.transaction per transaction),
            # so they need not run on it.
            if schema.tx != transaction_of:
                transaction, transaction_of = {}, schema.tx
            ctx = R.Context(schema, dialect, migration, index, stmt,
                            stmt.in_transaction if stmt.in_transaction is not None else in_tx, timeout_set, state,
                            facts_of, transaction)
            for rule in rules_for(fact, active, cache) if migration.report else ():
                for hit in rule.check(fact, ctx):
                    out.append(finding(migration, rule.id, hit.message, stmt.span, stmt, hit))
                    if out[-1].fix is not None:  # the mechanical rewrite, where there is a safe one
                        out[-1].fix.edits = rule.edits(fact, ctx, migration.path, len(facts) == 1)
            schema.apply(fact, index)
    for line, reason in migration.unreadable:
        out.append(finding(migration, "not-analyzed", f"Could not read this operation without running the project:"
                           f" {reason}", Span(line, 1, line, 1)))
    # A Django RunPython/RunSQL without its reverse is itself the change (its Python emits no SQL).
    if migration.irreversible and (changed or source_named(migration.source).irreversible_alone):
        where, reason = migration.irreversible
        span = where if isinstance(where, Span) else Span(where, 1, where, 1)  # (the operation's, where known)
        out.append(finding(migration, "irreversible-migration", reason, span,
                           hit=R.Hit(reason, plan=way_back(migration.source))))
    return out


def way_back(source: str) -> P.Plan:
    """irreversible-migration's fix: a rollback written before it is needed (no steps: the code
    is the author's)."""
    return P.Plan(source_named(source).way_back)


def parse_failure_span(migration: Migration, stmt: Statement, fact: F.ParseFailed) -> Span:
    """In an SQL file, the line inside the statement where parsing failed; elsewhere the
    statement's own place (the op call that issued it)."""
    if not source_named(migration.source).sql_text or fact.line_offset == 0:
        return stmt.span
    line = stmt.span.line + fact.line_offset
    return Span(line, 1, line, 1)


def dialect_name(dialect) -> str:
    return dialect.name if dialect.name != "generic" else "postgresql"


def finding(migration: Migration, rule: str, message: str, span: Span, stmt: Statement | None = None,
            hit: R.Hit | None = None) -> Finding:
    fix = None
    if hit is not None and hit.plan is not None:  # written in the migration's own framework
        fix = render_fix(hit.plan, migration.source, names_at(migration, span, hit.table, hit.column))
    return Finding(
        rule=rule, severity=Severity.ERROR, message=message, path=migration.path, span=span,
        source=migration.source, migration=migration.name, statement=stmt.sql if stmt else None,
        table=hit.table if hit else None, column=hit.column if hit else None, lock=hit.lock if hit else None,
        fix=fix, plan=hit.plan if hit else None, evidence=stmt.evidence if stmt else None)


def finish(raw: list[Finding], migration: Migration, settings: Settings,
           severities: dict[str, Severity], suppressed: list[Finding] | None = None) -> list[Finding]:
    """Suppression comments, bad-suppression, select/ignore and severity overrides. Findings a
    comment silenced are added to `suppressed`, to be counted."""
    sup = parse_suppressions(migration.text, set(severities))
    out = []
    for line, column, message in sup.problems:
        out.append(finding(migration, "bad-suppression", message, Span(line, column, line, column)))
    kept = []
    for f in out + raw:
        if not selected(f.rule, settings):
            continue
        end_line = f.span.end_line if f.statement and source_named(f.source).sql_text else None
        if sup.is_suppressed(f.rule, f.span.line, end_line):
            if suppressed is not None:
                suppressed.append(f)
            continue
        f.severity = severities.get(f.rule, f.severity)
        if f.fix is None:
            f.fix = Fix("")
        kept.append(f)
    return kept


def merged(results: list[Result]) -> Result:
    """One Result of the runs judged per dialect; it names the dialects that judged migrations."""
    if len(results) == 1:
        return results[0]
    used = [r for r in results if r.migrations] or results[:1]
    checked = None if any(r.checked is None for r in results) else [c for r in results for c in r.checked]
    return Result(sorted((f for r in results for f in r.findings), key=Finding.sort_key),
                  sum(r.files for r in results), sum(r.migrations for r in results),
                  sum(r.statements for r in results), ", ".join(dict.fromkeys(r.dialect for r in used)),
                  ", ".join(dict.fromkeys(r.target_version for r in used)), checked,
                  sum(r.suppressed for r in results))

"""The shared nouns. Sources, SQL analysis, rules and reports meet only here."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Severity(str, Enum):
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return 1 if self is Severity.ERROR else 0


@dataclass(frozen=True)
class Span:
    """1-based line and column; end_column is one past the last character (as SARIF)."""

    line: int
    column: int
    end_line: int
    end_column: int


@dataclass
class Statement:
    """One SQL statement of a migration, with the place a reviewer must look at.

    `sql` is the original text (never regenerated SQL). `span` is where the finding points:
    the statement itself for SQL files, the `op.*` call or Django operation for Python ones.
    `in_transaction` is None when the transaction state follows from BEGIN/COMMIT statements
    (SQL files); sources that know it (Alembic, Django) set it per statement.
    """

    sql: str
    span: Span
    in_transaction: bool | None = None
    # What the statement does, when the source knows it better than its SQL says (e.g. an Alembic
    # batch that rebuilds a table offline, where no SQL can be rendered): migsafe.sql.facts objects.
    facts: list | None = None
    # --database: what the server showed for this statement (migsafe.database.probe.Evidence).
    evidence: object | None = None


@dataclass
class Migration:
    """One migration, rendered to statements in the order they run."""

    source: str  # "sql" | "alembic" | "django"
    name: str  # Alembic revision id, Django app_label.name, or the SQL file's name
    path: str  # relative to the working directory, "/" separators
    statements: list[Statement] = field(default_factory=list)
    text: str = ""  # the file's text, for suppression comments
    starts_in_transaction: bool = False  # SQL with sql-transaction = "per-file"
    report: bool = True  # False: history only (start-after, --diff), replayed but not reported
    error: str | None = None  # could not be read or rendered -> not-analyzed
    error_line: int = 1
    # irreversible-migration: (line or the operation's span, reason) when the way back is missing, else None
    irreversible: tuple[int | Span, str] | None = None
    how: str = "read"  # "read" (SQL file), "rendered", "static" or "raised" (Python migrations)
    unreadable: list[tuple[int, str]] = field(default_factory=list)  # (line, why): parts not analysed
    runner_lock_timeout: bool = False  # the runner sets a lock timeout before it runs (sources/core/lock_timeout.py)
    notes: list[str] = field(default_factory=list)  # --database: what the run wants said (trace --rows)


@dataclass
class Edit:
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    replacement: str


@dataclass
class FixStep:
    phase: str  # expand | backfill | switch | contract | single
    title: str
    language: str
    code: str


@dataclass
class Fix:
    summary: str
    steps: list[FixStep] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)


@dataclass
class Finding:
    rule: str
    severity: Severity
    message: str
    path: str
    span: Span
    source: str
    migration: str
    statement: str | None = None
    table: str | None = None
    column: str | None = None
    lock: str | None = None
    fix: Fix | None = None
    # --database: the statement's migsafe.database.probe.Evidence; reported as `evidence`.
    evidence: object | None = None
    # The rule's abstract safe plan (migsafe.plans.Plan), for framework renderers; not reported.
    plan: object | None = field(default=None, repr=False, compare=False)

    def sort_key(self) -> tuple:
        return (self.path, self.span.line, self.span.column, self.rule, self.message)


@dataclass
class Result:
    findings: list[Finding]
    files: int
    migrations: int
    statements: int
    dialect: str
    target_version: str
    # (source, name, path) of each reported migration in run order, for reports that list the
    # migrations that passed too (JUnit: one test case each). None: not recorded.
    checked: list[tuple[str, str, str]] | None = None
    suppressed: int = 0  # findings silenced by a `migsafe: ignore[...]` comment with a reason

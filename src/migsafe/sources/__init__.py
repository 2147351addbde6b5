"""Where migrations come from: one package per framework (sql/, alembic/, django/), each named
once in registry.py, on a rendering core (core/) that knows none of them; files.py reads the files."""

"""One PostgreSQL server for every test module here (scratch_server.py): a fixture imported into
each module would start one server per module."""

from scratch_server import postgres_server, scratch  # noqa: F401

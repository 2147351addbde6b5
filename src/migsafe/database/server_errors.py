"""A database server's error, as one line a report can show (the driver's own message,
passwords hidden): for every runner, the scratch database and the generated rows."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url


def server_message(error: BaseException, url: URL | str | None = None) -> str:
    """A server's error as one line a report can show: the driver's message (not SQLAlchemy's or
    Django's wrapper with the statement and a link), `url`'s password replaced by ***."""
    original = error
    for _ in range(5):  # a wrapper's wrapper at most, never round a cycle
        inner = getattr(original, "orig", None) or original.__cause__
        if not isinstance(inner, BaseException):
            break
        original = inner
    text = str(original).strip() or type(original).__name__
    line = text.splitlines()[0].strip()
    password = make_url(url).password if isinstance(url, str) else getattr(url, "password", None)
    return line.replace(password, "***") if password else line

"""Whether a Django project's runner sets a lock timeout itself (core/lock_timeout.py): read in its
settings, never run."""

from __future__ import annotations

from pathlib import Path

from migsafe.sources.core.lock_timeout import read_text, sets_lock_timeout


def django_sets_lock_timeout(settings_module: str | None, roots: list[Path]) -> bool:
    """The project's settings module (and, for a settings package, its sibling modules: base,
    production, ...) set it. Found below the folders above the migrations packages."""
    if not settings_module:
        return False
    parts = settings_module.split(".")
    for root in {p for r in roots for p in r.resolve().parents}:
        module = root.joinpath(*parts)
        files = [module.with_suffix(".py")] if module.with_suffix(".py").is_file() else []
        folder = module.parent if files else module
        if files or (folder / "__init__.py").is_file():
            files += sorted(folder.glob("*.py"))
            return any(sets_lock_timeout(read_text(f)) for f in files)
    return False

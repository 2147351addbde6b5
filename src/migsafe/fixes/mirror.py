"""Where `migsafe fix --dry-run` checks its rewrites again: a mirror of what a check reads, in a
temporary folder, so that a dry run never writes the user's files and still promises exactly
what `fix` then does (the same engine, on the same texts, at the same relative paths).

Each PATH is mirrored whole, and the folders above it up to the working directory with the
files directly in them (alembic.ini, the config, env.py, a settings module beside the apps).
Folders are made, source files copied: the check resolves migration paths, which a symbolic
link would lead back to the originals (and a hard link changes their ctime). Everything else
(other files, folders beside the way, the folders a check never walks) is a symbolic link to
the original, so the project's code still imports.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from migsafe.sources.files import SKIP_DIRS  # never walked by a check: linked, not mirrored

# What a check may read by path: migrations, Alembic's and migsafe's configs, Python modules.
_COPIED = {".sql", ".py", ".pyc", ".ini", ".toml", ".cfg", ".mako"}


class Mirror:
    """The mirror of `cwd` (and of PATHs outside it), made on entry and removed on exit."""

    def __init__(self, cwd: Path, targets: list[Path]) -> None:
        self.cwd = Path(os.path.abspath(cwd))
        self.targets = [Path(os.path.abspath(self.cwd / t)) for t in targets]
        self._roots: dict[Path, Path] = {}  # original folder -> its place in the mirror
        self._temp: tempfile.TemporaryDirectory | None = None

    def __enter__(self) -> Mirror:
        self._temp = tempfile.TemporaryDirectory(prefix="migsafe-dry-run-")
        base = Path(self._temp.name)
        self._roots[self.cwd] = base / "cwd"
        for n, target in enumerate(t for t in self.targets if not _under(t, self.cwd)):
            self._roots[target.parent] = base / f"outside{n}"  # a PATH outside the working directory
        for root, place in self._roots.items():
            place.mkdir()
            for target in self.targets:
                if _under(target, root):
                    self._mirror_way(root, target)
        return self

    def __exit__(self, *exc) -> None:
        if self._temp is not None:
            self._temp.cleanup()

    def place(self, path: Path) -> Path:
        """Where the file or folder `path` (absolute, or relative to cwd) is in the mirror."""
        full = Path(os.path.abspath(self.cwd / path))
        for root, place in sorted(self._roots.items(), key=lambda r: -len(r[0].parts)):
            if _under(full, root):
                return place / full.relative_to(root)
        raise ValueError(f"{path} is not mirrored")

    def write(self, path: Path, text: str) -> None:
        """The mirror's `path` (relative to cwd) now holds `text`, the original untouched."""
        place = self.place(path)
        if place.is_symlink():
            place.unlink()
        place.parent.mkdir(parents=True, exist_ok=True)
        with open(place, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)

    def check(self, run: Callable[[list[Path], Path, set[Path] | None], object], only: set[Path] | None):
        """`run(targets, cwd, only)` (engine.check) on the mirror, inside it as the working directory
        (as the original run is inside cwd); findings come back with the original paths."""
        moved = None if only is None else {self._real_place(p) for p in only}
        with _inside(self.place(self.cwd)):
            result = run([self.place(t) for t in self.targets], self.place(self.cwd), moved)
        back = {os.fspath(place) + os.sep: os.fspath(root) + os.sep for root, place in self._roots.items()}
        for finding in result.findings:
            finding.path = _translate(finding.path, back)
        if result.checked is not None:
            result.checked = [(s, name, _translate(path, back)) for s, name, path in result.checked]
        return result

    def _real_place(self, path: Path) -> Path:
        """--diff's resolved paths, in the mirror (resolved as the check resolves its own)."""
        real_cwd = Path(os.path.realpath(self.cwd))
        with contextlib.suppress(ValueError):
            return Path(os.path.realpath(self.place(self.cwd))) / path.relative_to(real_cwd)
        return path

    def _mirror_way(self, root: Path, target: Path) -> None:
        """The folders from `root` down to `target` with the files in them, then `target` whole."""
        folder = root
        for part in target.relative_to(root).parts:
            self._mirror_folder(folder, whole=False)
            folder = folder / part
        if target.is_dir():
            self._mirror_folder(target, whole=True)
        else:
            self._mirror_folder(target.parent, whole=False)

    def _mirror_folder(self, folder: Path, whole: bool) -> None:
        place = self.place(folder)
        if place.is_symlink():  # linked when its parent was mirrored: made real now
            place.unlink()
        place.mkdir(parents=True, exist_ok=True)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return  # unreadable: the check says so on the original as well as here
        for entry in entries:
            to = place / entry.name
            if os.path.lexists(to):
                continue
            if entry.is_symlink():
                to.symlink_to(os.path.realpath(entry.path))  # (as the check would follow it)
            elif entry.is_dir():
                if whole and not (entry.name.startswith(".") or entry.name in SKIP_DIRS):
                    self._mirror_folder(Path(entry.path), whole=True)
                else:
                    to.symlink_to(entry.path, target_is_directory=True)
            elif Path(entry.name).suffix in _COPIED:
                shutil.copy2(entry.path, to)
            else:
                to.symlink_to(entry.path)


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _translate(path: str, back: dict[str, str]) -> str:
    for place, root in back.items():
        if path.startswith(place):
            return root + path[len(place):]
    return path


@contextlib.contextmanager
def _inside(folder: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


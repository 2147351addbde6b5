"""What a Django migration's job carries to the worker (`DjangoStep`, the worker Job's `step`) and
what the worker gives back (`DjangoRendered`): plain dataclasses, pickled across the pipe."""

from __future__ import annotations

from dataclasses import dataclass

from migsafe.sources.core.tracing import Rendered


@dataclass(frozen=True)
class DjangoStep:
    """What the worker needs besides the file: where the migration sits in the project."""

    app: str  # app label
    name: str
    module: str  # dotted module name of the migration
    # (app, name, module) rendered before it, in order: those from `history_from` on (the worker
    # keeps what it was told before; a whole history per migration made the requests grow with it)
    history: tuple[tuple[str, str, str], ...]
    apps: tuple[str, ...]  # app modules, for INSTALLED_APPS
    roots: tuple[str, ...]  # folders the app modules import from
    target_version: str | None
    execute: bool = True  # False (--no-exec): read statically (static.py), no project code
    history_from: int = 0
    settings_module: str | None = None  # django-settings, else DJANGO_SETTINGS_MODULE; None: ad hoc settings
    settings_file: str | None = None  # its file, where found (for the line of a failure)
    # The swappable models it names literally (AUTH_USER_MODEL, ...): the ad hoc settings take them
    # when it cannot be set up, as the graph's order did (graph.read_settings)
    swappable: tuple[tuple[str, str], ...] = ()
    labels: frozenset[str] = frozenset()  # the labels of every app of the plan (stand_ins.stand_in_targets)


@dataclass
class DjangoRendered(Rendered):
    irreversible: tuple[int, str] | None = None
    carried: bool = False  # its state changes are in the worker's state (even if it could not be rendered)
    settings_error: tuple[str, int] | None = None  # the project's settings could not be used: why, its line

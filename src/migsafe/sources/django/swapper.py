"""swapper's API (https://github.com/openwisp/django-swappable-models, MIT), for projects whose
`swapper` is not installed where migsafe runs: project.py puts this module in its place.

Swappable models named through swapper (wagtail's Page, openwisp's Device) decide which model a
foreign key points at and which app a migration depends on; a stand-in that knows nothing (what
other missing packages get) made those migrations, and every later one on their models, fail.
The functions below behave as swapper 1.4's: a model's setting is `<PREFIX>_<MODEL>_MODEL`
(the prefix is the app label unless set_app_prefix says otherwise), by default `app_label.Model`.
"""

from __future__ import annotations

_prefixes: dict[str, str] = {}


def swappable_setting(app_label: str, model: str) -> str:
    from django.conf import settings

    prefix = _prefixes.get(app_label, app_label)
    setting = f"{prefix.upper()}_{model.upper()}_MODEL"
    if not hasattr(settings, setting):  # as swapper: migrations read it from settings afterwards
        setattr(settings, setting, join(app_label, model))
    return setting


def is_swapped(app_label: str, model: str):
    from django.conf import settings

    default = join(app_label, model)
    value = getattr(settings, swappable_setting(app_label, model), default)
    return value if value != default else False


def get_model_name(app_label: str, model: str) -> str:
    return is_swapped(app_label, model) or join(app_label, model)


def get_model_names(app_label: str, models) -> dict:
    return {model: get_model_name(app_label, model) for model in models}


def dependency(app_label: str, model: str, version: str | None = None):
    from django.db.migrations import swappable_dependency

    found = swappable_dependency(get_model_name(app_label, model))
    return found if not version else (found[0], version)


def load_model(app_label: str, model: str, required: bool = True):
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured

    swapped = is_swapped(app_label, model)
    if swapped:
        app_label, model = split(swapped)
    try:
        return apps.get_model(app_label, model, require_ready=False)
    except LookupError:
        if required:
            raise ImproperlyConfigured(f"Could not find {app_label}.{model}!") from None
        return None


def set_app_prefix(app_label: str, prefix: str) -> None:
    _prefixes[app_label] = prefix


def join(app_label: str, model: str) -> str:
    return f"{app_label}.{model}"


def split(model: str) -> tuple[str, str]:
    app_label, model = model.split(".")
    return app_label, model

"""Django's project state rendering, re-implemented to render on demand: the model classes an
operation's SQL needs, not the whole project after every change (MIGSAFE_DJANGO_RENDER=full keeps
Django's own, the reference the tests compare with).

Django is imported inside the functions (only ever called in the worker, once it is set up).
"""

from __future__ import annotations

import functools
import os


def on_demand(state):
    """`state` as a project state whose model classes are rendered when the schema editor asks
    for them, not all at once. Django keeps every model of the project rendered and re-renders
    a model's whole related graph on most state changes: that was ~90% of the time on wagtail
    and oscar. The SQL of an operation needs only the models it names, what they point at or
    inherit from, and the models pointing at them (their reverse relations: a primary key's type
    change alters the foreign key columns too), so that is what `apps.get_model` renders."""
    if os.environ.get("MIGSAFE_DJANGO_RENDER") == "full":  # Django's own way: the reference in tests
        return state
    if not isinstance(state, _on_demand_classes()[0]):
        state.__class__ = _on_demand_classes()[0]
        state.refs = {}
        state.reload_models(list(state.models))
    return state


_ON_DEMAND: list[type] = []


class _FieldCopy:
    """A field of a model state, whose clone() (all ModelState.render asks of it) copies it as
    Django copies the fields a model inherits (Field.__deepcopy__) rather than rebuilding it from
    deconstruct(): that rebuilding was a sixth of the time. Only Django's own field classes are
    copied (their __init__ makes nothing the copy would share); any other is rebuilt."""

    __slots__ = ("field",)

    def __init__(self, field) -> None:
        self.field = field

    def clone(self):
        from django.db.models import Field

        field = self.field
        if not type(field).__module__.startswith("django."):
            return field.clone()
        new = field.__deepcopy__({})
        for name in _cached_properties(type(field)):  # (Django's state code caches related_model, unbound)
            new.__dict__.pop(name, None)
        if new.remote_field is not None:
            for name in _cached_properties(type(new.remote_field)):
                new.remote_field.__dict__.pop(name, None)
        if new.auto_created:  # a place in the model's field order, as a new field takes
            new.creation_counter, Field.auto_creation_counter = Field.auto_creation_counter, Field.auto_creation_counter - 1
        else:
            new.creation_counter, Field.creation_counter = Field.creation_counter, Field.creation_counter + 1
        return new


@functools.lru_cache(maxsize=None)
def _cached_properties(cls: type) -> tuple[str, ...]:
    return tuple({name for klass in cls.__mro__ for name, value in vars(klass).items()
                  if isinstance(value, functools.cached_property) or type(value).__name__ == "cached_property"})
# Keys-only renderings (OnDemandApps._render) by model: (what it was made from, the class, objects
# held). Reused by every later registry while the model's keys are unchanged: the SQL needs
# their tables and key columns only, and Django shares unchanged classes between registries too.
_KEYS_ONLY: dict = {}


def _on_demand_classes() -> list[type]:
    """[the ProjectState subclass, its StateApps subclass], made once Django is imported."""
    if _ON_DEMAND:
        return _ON_DEMAND
    from django.db.migrations.state import ProjectState, StateApps, _get_app_label_and_model_name
    from django.db.models.fields.related import RECURSIVE_RELATIONSHIP_CONSTANT

    class OnDemandState(ProjectState):
        """A project state whose `apps` render on demand. It keeps its own index of which models
        point at which (`refs`: {target: {referrer: {field name: field}}}), updated from the
        models each change reloads. (Django's `relations` would do, but once computed it changes
        how alter_field orders a model's fields, and so the column order of SQLite's remakes.)"""

        refs: dict

        def clone(self):
            # The copy holds this state's model states as they are; this state copies each one the
            # first time it is touched (_CopyOnAccess): an operation changes a few, not hundreds.
            models = dict(dict.items(self.models))
            new = OnDemandState(models=dict(models), real_apps=self.real_apps)
            self.models = _CopyOnAccess(models)
            new.refs = self.refs  # (never changed in place: index() replaces what it changes)
            new.is_delayed = self.is_delayed
            # The copy takes the models rendered so far (they are its models too) and this state
            # starts afresh: it is the one an operation changes next (before = state.clone()).
            if "apps" in self.__dict__:
                new.__dict__["apps"] = self.__dict__.pop("apps")
                new.apps._state, new.apps.earlier = new, None  # (else each registry keeps every earlier one alive)
            return new

        @functools.cached_property
        def apps(self):
            # Made when first asked for: an operation's state changes drop it again and again.
            return OnDemandApps(self)

        def alter_field(self, *args, **kwargs):
            # Django's lists the models only to ask whether any points at the field, and that
            # only decides whether to delay re-rendering: nothing is rendered ahead here, and
            # walking every field of every model on every AlterField was a twentieth of the time.
            models = self.models
            if isinstance(models, _CopyOnAccess):
                models.unlisted = True
            try:
                super().alter_field(*args, **kwargs)
            finally:
                if isinstance(models, _CopyOnAccess):
                    models.unlisted = False

        def add_model(self, model_state):
            super().add_model(model_state)  # (which reloads, and so indexes, only while apps exist)
            self.index((model_state.app_label, model_state.name_lower))

        def reload_model(self, app_label, model_name, delay=False):
            self.reload_models([(app_label, model_name)])

        def reload_models(self, models, delay=True):
            for key in models:
                self.index(key)
            self.__dict__.pop("apps", None)  # made afresh when asked for: nothing stale

        def remove_model(self, app_label, model_name):
            super().remove_model(app_label, model_name)
            self.index((app_label, model_name))

        def index(self, key) -> None:
            """(Re)enter what the model `key` points at into `refs`, replacing (never changing)
            the entries it touches, as clones share them."""
            refs = {target: by for target, by in self.refs.items() if key not in by}
            refs.update((target, {r: f for r, f in by.items() if r != key}) for target, by in self.refs.items() if key in by)
            model = dict.get(self.models, key)
            for name, field in model.fields.items() if model is not None else ():
                remote = getattr(field, "remote_field", None)
                target = getattr(remote, "model", None)
                if target is not None and target != RECURSIVE_RELATIONSHIP_CONSTANT:
                    label, target_name = _get_app_label_and_model_name(target, key[0])
                    target = (label, target_name.lower())
                    refs[target] = {**refs.get(target, {})}
                    refs[target][key] = {**refs[target].get(key, {}), name: field}
            self.refs = refs

    def _copy(model):
        """ModelState.clone without its checks (they held when the state was made), which were
        a tenth of the time: a state is copied before every operation."""
        copy = object.__new__(type(model))
        copy.__dict__.update(model.__dict__)
        copy.fields, copy.options, copy.managers = dict(model.fields), dict(model.options), list(model.managers)
        return copy

    def _for_rendering(model, keys_only: bool):
        """The model state ModelState.render makes the class from, its fields copied rather than
        rebuilt (_FieldCopy). `keys_only`: as the target of a relation: its primary key and unique
        fields (a `to_field` names one), the field `order_with_respect_to` names, its options."""
        keep = model.options.get("order_with_respect_to")
        copy = object.__new__(type(model))
        copy.__dict__.update(model.__dict__)
        copy.fields = {name: _FieldCopy(f) for name, f in model.fields.items()
                       if not keys_only or f.primary_key or f.unique or name == keep}
        return copy

    def _made_from(models: dict, key, depth: int = 0) -> tuple[tuple, list]:
        """What a keys-only rendering of `key` is made from, as object identities (model states
        share field and option objects until one is changed, and a changed one is a new object):
        its name, bases, options and key fields, and the same of what those point at or inherit
        from. Also the objects themselves, to be held while cached (an identity is then never
        reused by another object)."""
        model = models.get(key)
        if model is None or depth > 50:
            return (key,), []
        keep = model.options.get("order_with_respect_to")
        held: list = [model.bases, *model.options.values()]
        identity: list = [key, model.name, id(model.bases), tuple((k, id(v)) for k, v in model.options.items())]
        targets = [OnDemandApps._base_key(b, model.app_label) for b in model.bases]
        for name, field in model.fields.items():
            if field.primary_key or field.unique or name == keep:
                remote = getattr(field, "remote_field", None)
                held.append(field)
                identity.append((name, id(field), getattr(remote, "field_name", None), getattr(field, "to_fields", None)))
                target = getattr(remote, "model", None)
                if target is not None and target != RECURSIVE_RELATIONSHIP_CONSTANT:
                    targets.append(OnDemandApps._base_key(target, model.app_label))
        for target in targets:
            if target is not None and target != key:
                deeper, deeper_held = _made_from(models, target, depth + 1)
                identity.append(deeper)
                held += deeper_held
        return tuple(identity), held

    class _CopyOnAccess(dict):
        """Model states shared with a clone until first touched here: then copied (ModelState's
        own fields and options dicts are what Django changes in place)."""

        def __init__(self, models: dict):
            super().__init__(models)
            self.shared = set(models)
            self.unlisted = False  # items() lists nothing (alter_field, above)

        def _own(self, key) -> None:
            if key in self.shared:
                self.shared.discard(key)
                dict.__setitem__(self, key, _copy(dict.__getitem__(self, key)))

        def __getitem__(self, key):
            self._own(key)
            return dict.__getitem__(self, key)

        def get(self, key, default=None):
            return self[key] if key in self else default

        def values(self):
            for key in list(self.shared):
                self._own(key)
            return dict.values(self)

        def items(self):
            if self.unlisted:
                return {}.items()
            self.values()
            return dict.items(self)

        def __setitem__(self, key, value):
            self.shared.discard(key)
            dict.__setitem__(self, key, value)

        def __delitem__(self, key):
            self.shared.discard(key)
            dict.__delitem__(self, key)

        def pop(self, key, *default):
            self.shared.discard(key)
            return dict.pop(self, key, *default)

    class OnDemandApps(StateApps):
        def __init__(self, state):
            self._state, self._whole, self._rendering, self._listed = state, set(), False, {}
            self._pointed_at: set = set()  # models asked for whose referrers are not rendered yet
            self._keys_only: set = set()  # models rendered with only their keys (_for_rendering)
            # The registry of the state before the operation: a model renders there first, so
            # that its fields are older than the new ones, as Django's would be (SQLite's table
            # remake orders the columns by field creation).
            self.earlier = None
            super().__init__(state.real_apps, {})

        def get_model(self, app_label, model_name=None, require_ready=True):
            if not self._rendering:  # (ModelState.render looks its bases up here too)
                label, name = app_label.split(".") if model_name is None else (app_label, model_name)
                if self.earlier is not None:
                    self.earlier._render_around((label, name.lower()))
                self._render_around((label, name.lower()))
            return super().get_model(app_label, model_name, require_ready)

        def _render_around(self, key) -> None:
            """`key` and what it inherits from; what it points at, with what the keys of those point
            at (a foreign key's column type is its target's key's), as stand-ins with only their
            keys (_for_rendering): the SQL of `key` needs their table and key column, and rendering
            every field of the models most things point at (a user, a page) was most of the time.
            The models pointing at `key` wait until some model's reverse relations are asked for
            (get_models, below): the SQL of most operations never needs them."""
            models = self._models = dict(dict.items(self._state.models))  # read only: no copies made
            if key in self._whole or key not in models:
                return
            self._whole.add(key)
            self._pointed_at.add(key)
            whole = self._closure({key}, self._bases)
            targets = self._closure({k for k in self._references(models[key]) if k in models}, self._key_references)
            self._render(whole, targets - whole)

        def _render_referrers(self) -> None:
            """The models pointing at or inheriting from the models asked for, with what they inherit
            from (registered, so those models' reverse relations are whole)."""
            models = self._models = dict(dict.items(self._state.models))
            around = set()
            while self._pointed_at:
                key = self._pointed_at.pop()
                if key not in models:
                    continue
                children = {k for k, m in models.items() if key in (self._base_key(b, k[0]) for b in m.bases)}
                # (a relation to a proxy is one to its concrete model too: it is among that one's related objects)
                around |= children.union(*(self._referrers(k) for k in [key, *children]
                                            if k == key or models[k].options.get("proxy")))
            self._render(self._closure(around, self._bases))

        def _render(self, keys: set, keys_only: set = frozenset()) -> None:
            for key in keys & self._keys_only:  # met before as a target: rendered whole now
                self._keys_only.discard(key)
                self.unregister_model(*key)
            keys_only = {k for k in keys_only if k in self._models and not self._registered(k)}
            self._keys_only |= keys_only
            made = {}  # keys-only renderings made here: (what they are made from, what that holds)
            self._rendering = True
            try:
                for key in sorted(keys_only):
                    made[key] = _made_from(self._models, key)
                    cached = _KEYS_ONLY.get(key)
                    if cached is not None and cached[0] == made[key][0]:  # unchanged since: the class is reused
                        self.register_model(key[0], cached[1])
                        del made[key]
                self.render_multiple([_for_rendering(self._models[k], keys_only=k in keys_only)
                                      for k in sorted(keys | keys_only) if k in self._models and not self._registered(k)])
            finally:
                self._rendering = False
            for key, (identity, held) in made.items():
                _KEYS_ONLY[key] = (identity, self.all_models[key[0]][key[1]], held)

        def _closure(self, keys: set, step) -> set:
            found, todo = set(keys), list(keys)
            while todo:
                model = self._models.get(todo.pop())
                for k in step(model) if model is not None else ():
                    if k not in found and k in self._models:
                        found.add(k)
                        todo.append(k)
            return found

        def _referrers(self, key) -> set:
            """The models pointing at `key` and, where the field pointing is itself a primary key or
            unique (a parent link, a one-to-one key), the models pointing at those: a key's type
            change reaches along such chains (the schema editor's _related_non_m2m_objects)."""
            found, followed, todo = set(), {key}, [key]
            while todo:
                for referrer, fields in self._state.refs.get(todo.pop(), {}).items():
                    found.add(referrer)
                    if referrer not in followed and any(f.primary_key or f.unique for f in fields.values()):
                        followed.add(referrer)
                        todo.append(referrer)
            return found - {key}

        def _bases(self, model) -> list:
            return [self._base_key(b, model.app_label) for b in model.bases]

        def _references(self, model) -> list:
            """What a model state points at (relations, custom `through` models) or inherits from."""
            keys = self._bases(model)
            for field in model.fields.values():
                remote = getattr(field, "remote_field", None)
                for target in (getattr(remote, "model", None), getattr(remote, "through", None)):
                    if target is not None and target != RECURSIVE_RELATIONSHIP_CONSTANT:
                        keys.append(self._base_key(target, model.app_label))
            return keys

        def _key_references(self, model) -> list:
            """What a model inherits from, and what its primary key or unique fields (a `to_field`
            may name one) point at."""
            keys = self._bases(model)
            for field in model.fields.values():
                target = getattr(getattr(field, "remote_field", None), "model", None)
                if (field.primary_key or field.unique) and target is not None and target != RECURSIVE_RELATIONSHIP_CONSTANT:
                    keys.append(self._base_key(target, model.app_label))
            return keys

        def get_models(self, include_auto_created=False, include_swapped=False):
            # Apps.get_models and Apps.get_swappable_settings_name keep functools caches shared by
            # every registry, the project's own included, and Apps.clear_cache empties both: each
            # model rendered here made Django work out the project's swappable settings again (a
            # tenth of the time). This registry keeps its own list instead.
            if self._pointed_at and not self._rendering:  # reverse relations asked for (Options._relation_tree)
                self._render_referrers()
            key = (include_auto_created, include_swapped)
            if key not in self._listed:
                self._listed[key] = StateApps.get_models.__wrapped__(self, include_auto_created, include_swapped)
            return self._listed[key]

        def clear_cache(self):
            self._listed = {}
            if self.ready:
                for app_config in self.app_configs.values():
                    for model in app_config.get_models(include_auto_created=True):
                        model._meta._expire_cache()

        def _registered(self, key) -> bool:
            return key[1] in self.all_models.get(key[0], ())

        @staticmethod
        def _base_key(base, app_label: str):
            if isinstance(base, str):
                label, name = _get_app_label_and_model_name(base, app_label)
                return label, name.lower()
            meta = getattr(base, "_meta", None)  # a model class (a base, or a relation's resolved target)
            return (meta.app_label, meta.model_name) if meta is not None and not meta.abstract else None

    _ON_DEMAND[:] = [OnDemandState, OnDemandApps]
    return _ON_DEMAND

"""Fields of a model state are copied, not rebuilt, when a model class is rendered
(sources/django/state.py, _FieldCopy): the copy must be what clone() gives where the SQL can tell (its
place in the model's field order, its relation's own objects) and leave the state's field as it
was. Rendering Django's contrib, wagtail, oscar and allauth both ways gives the same SQL
(scripts/django_corpus.py, the on-demand tests); these pin down each part of the copy."""

from __future__ import annotations

import pytest

pytest.importorskip("django")

from django.db import models  # noqa: E402

from migsafe.sources.django.state import _FieldCopy  # noqa: E402


def test_copies_take_new_places_in_the_field_order_in_the_order_made():
    later, earlier = models.IntegerField(), models.CharField(max_length=5)  # made in the other order
    assert later.creation_counter < earlier.creation_counter
    first, second = _FieldCopy(earlier).clone(), _FieldCopy(later).clone()
    assert earlier.creation_counter < first.creation_counter < second.creation_counter
    clone = earlier.clone()  # as Django's own rebuilding does
    assert second.creation_counter < clone.creation_counter


def test_a_relation_is_copied_with_its_own_relation_object_and_nothing_cached():
    field = models.ForeignKey("library.Author", on_delete=models.CASCADE, related_name="books")
    field.__dict__["related_model"] = "library.Author"  # what Django's state code leaves cached
    copy = _FieldCopy(field).clone()
    assert copy.remote_field is not field.remote_field and copy.remote_field.field is copy
    assert field.remote_field.field is field  # the state's field is left as it was
    assert "related_model" not in copy.__dict__ and field.__dict__["related_model"] == "library.Author"
    assert (copy.remote_field.model, copy.remote_field.related_name) == ("library.Author", "books")


def test_fields_of_other_packages_are_rebuilt():
    class Custom(models.CharField):
        def __init__(self, *args, **kwargs):
            self.made = object()  # something its __init__ makes, which a copy would share
            super().__init__(*args, **kwargs)

    field = Custom(max_length=3)
    assert _FieldCopy(field).clone().made is not field.made

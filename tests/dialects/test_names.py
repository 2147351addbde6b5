"""The one list of dialects (dialects.NAMES) names each dialect's module and class."""

from migsafe import config, dialects
from migsafe.dialects import get_dialect
from migsafe.dialects.base import Dialect


def test_each_name_is_its_dialect():
    assert [get_dialect(name, None).name for name in dialects.NAMES] == list(dialects.NAMES)


def test_an_unknown_name_is_the_base_dialect():
    assert type(get_dialect("oracle", None)) is Dialect


def test_the_config_accepts_exactly_these():
    assert config.DIALECTS == dialects.NAMES


def test_the_base_dialect_has_every_method_a_dialect_overrides():
    own = {name for cls in map(dialects.dialect_class, dialects.NAMES) for name, value in vars(cls).items()
           if callable(value) and not name.startswith("_")}
    assert own - set(dir(Dialect)) == {"mysql_at_least"}  # (MySQL's own helper, asked of MySQL only)

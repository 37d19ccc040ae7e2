"""eunomia.valueclass: what @dataclass gave the records it replaced (#29), checked
against dataclasses itself where the two must agree."""

from __future__ import annotations

import dataclasses
import pickle
from typing import ClassVar

import pytest

from eunomia.errors import EunomiaError
from eunomia.valueclass import FrozenInstanceError, field, fields, replace, valueclass


@valueclass(frozen=True)
class Point:
    """A frozen record."""

    x: int
    y: int = 0
    tags: list = field(default_factory=list, compare=False)
    KIND: ClassVar[str] = "point"


@valueclass
class Counter:
    name: str
    count: int = 0
    _seen: set = field(default_factory=set, init=False, repr=False)

    def __post_init__(self):
        self._seen.add(self.name)


@dataclasses.dataclass(frozen=True)
class DataPoint:
    x: int
    y: int = 0
    tags: list = dataclasses.field(default_factory=list, compare=False)


def test_init_by_position_keyword_defaults_and_factories():
    assert (Point(1).x, Point(1).y, Point(1).tags) == (1, 0, [])
    assert Point(1, 2, ["a"]).tags == ["a"]
    assert Point(y=3, x=4) == Point(4, 3)
    assert Point(1).tags is not Point(1).tags         # a new list each time
    counter = Counter("a")
    assert counter._seen == {"a"}                     # init=False filled, post-init ran


@pytest.mark.parametrize("call", [lambda: Point(), lambda: Point(1, 2, [], 4),
                                  lambda: Point(1, x=2), lambda: Point(1, z=2),
                                  lambda: Counter("a", _seen=set())])
def test_wrong_arguments_are_type_errors(call):
    with pytest.raises(TypeError):
        call()


def test_repr_eq_and_hash_agree_with_dataclasses():
    ours, theirs = Point(1, 2, ["t"]), DataPoint(1, 2, ["t"])
    assert repr(ours) == repr(theirs).replace("DataPoint", "Point")
    assert Point(1, 2, ["a"]) == Point(1, 2, ["b"])   # compare=False
    assert Point(1, 2) != Point(2, 1)
    assert Point(1) != DataPoint(1)                   # another class: never equal
    assert hash(Point(1, 2)) == hash(Point(1, 2, ["x"]))
    assert repr(Counter("a", 2)) == "Counter(name='a', count=2)"   # repr=False hidden
    with pytest.raises(TypeError):
        hash(Counter("a"))                            # mutable: unhashable, as dataclasses


def test_frozen_refuses_assignment_with_a_typed_error():
    point = Point(1)
    with pytest.raises(FrozenInstanceError) as info:
        point.x = 2
    assert isinstance(info.value, EunomiaError) and isinstance(info.value, AttributeError)
    with pytest.raises(FrozenInstanceError):
        del point.x
    counter = Counter("a")
    counter.count = 5                                 # not frozen
    assert counter.count == 5


def test_fields_replace_class_vars_and_pickle():
    assert [f.name for f in fields(Point)] == ["x", "y", "tags"]
    assert fields(Point(1)) == fields(Point)
    assert Point.KIND == "point" and "KIND" not in [f.name for f in fields(Point)]
    assert replace(Point(1, 2), y=5) == Point(1, 5)
    assert replace(Counter("a", 3), count=4).count == 4
    assert pickle.loads(pickle.dumps(Point(1, 2, ["t"]))) == Point(1, 2)
    with pytest.raises(TypeError):
        fields(object())


def test_declaration_mistakes_are_refused():
    with pytest.raises(TypeError, match="mutable default"):
        @valueclass
        class Shared:
            items: list = []            # noqa: RUF012 (the mistake under test)
    with pytest.raises(TypeError, match="without a default follows"):
        @valueclass
        class Order:
            a: int = 0
            b: int


def test_subclasses_extend_their_bases_fields():
    @valueclass(frozen=True)
    class Point3(Point):
        z: int = 0
    assert [f.name for f in fields(Point3)] == ["x", "y", "tags", "z"]
    assert Point3(1, 2, [], 3).z == 3 and Point3(1) != Point(1)


def test_hash_follows_compare_unless_a_field_says_otherwise():
    @valueclass(frozen=True)
    class Tagged:
        key: str
        note: str = field(default="", hash=False)     # compared, not hashed
    assert Tagged("a", "x") != Tagged("a", "y")
    assert hash(Tagged("a", "x")) == hash(Tagged("a", "y"))

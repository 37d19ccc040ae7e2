"""Value classes: what `@dataclass` gives a class, declared the same way, made without
generating code.

    @valueclass(frozen=True)
    class Section:
        name: str
        size: int = 0
        labels: dict = field(default_factory=dict, compare=False)

gives __init__ (by position or keyword, defaults, default factories, `init=False` fields,
then `__post_init__` if the class has one), __repr__, __eq__ over the compared fields,
and for frozen classes __hash__ and refused assignment (FrozenInstanceError); other
classes are unhashable, as dataclasses makes them. `fields(cls)` and
`replace(obj, **changes)` work as dataclasses' do.

Why not dataclasses: it writes each class's methods as source and compiles them, about
0.5 ms a class, and it imports inspect, ast and dis. On `ecli run`'s start path that was
28 classes and about 28 ms, a third of its start above the interpreter's (#29). These
methods read the class's fields instead; building a class takes about 20 us.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

from .errors import EunomiaError


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenInstanceError(EunomiaError, AttributeError):
    """Assignment to a field of a frozen value class."""


class Field:
    """One declared field (as dataclasses.Field: name, default, default_factory, init,
    repr, compare, hash, metadata)."""

    __slots__ = ("compare", "default", "default_factory", "hash", "init", "metadata", "name",
                 "repr")

    def __init__(self, default=MISSING, default_factory=MISSING, init=True, repr=True,
                 compare=True, hash=None, metadata=None):
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("a field takes a default or a default_factory, not both")
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.compare = compare
        self.hash = hash
        self.metadata = metadata or {}

    @property
    def has_default(self) -> bool:
        return self.default is not MISSING or self.default_factory is not MISSING

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, default={self.default!r})"


def field(*, default=MISSING, default_factory=MISSING, init=True, repr=True,
          compare=True, hash=None, metadata=None) -> Any:
    """A field with settings, as dataclasses.field."""
    return Field(default, default_factory, init, repr, compare, hash, metadata)


def fields(cls_or_instance) -> tuple[Field, ...]:
    """The fields of a value class (or of an instance's class), in order."""
    try:
        return cls_or_instance.__valueclass_fields__
    except AttributeError:
        raise TypeError(f"{cls_or_instance!r} is not a value class") from None


def replace(obj, **changes):
    """A copy of `obj` with `changes` (its __init__ runs again, as dataclasses.replace)."""
    for f in fields(obj):
        if f.init and f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return type(obj)(**changes)


def _is_class_var(annotation) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


def _declared(cls) -> tuple[Field, ...]:
    """The fields of `cls`: its bases' value-class fields, then its own annotations."""
    found: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for f in base.__dict__.get("__valueclass_fields__", ()):
            found[f.name] = f
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063
        if _is_class_var(annotation):
            continue
        value = cls.__dict__.get(name, MISSING)
        declared = value if isinstance(value, Field) else Field(default=value)
        declared.name = name
        if isinstance(declared.default, (list, dict, set)):
            raise TypeError(f"{cls.__name__}.{name}: a mutable default is shared by "
                             "every instance (use default_factory)")
        if declared.default is MISSING:
            if name in cls.__dict__:
                delattr(cls, name)
        else:
            setattr(cls, name, declared.default)
        found.pop(name, None)
        found[name] = declared
    given_default = False
    for f in found.values():
        if not f.init:
            continue
        if given_default and not f.has_default:
            raise TypeError(f"{cls.__name__}: field {f.name!r} without a default follows "
                            "one with a default")
        given_default = given_default or f.has_default
    return tuple(found.values())


def _getter(names):
    """The named attributes of an object, as one tuple (or one value, for one name)."""
    names = tuple(names)
    return attrgetter(*names) if names else (lambda obj: ())


def valueclass(cls=None, *, frozen: bool = False):
    """The class decorator: `@valueclass` or `@valueclass(frozen=True)`."""
    if cls is None:
        return lambda cls: _make(cls, frozen)
    return _make(cls, frozen)


def _make(cls, frozen: bool):
    declared = _declared(cls)
    name = cls.__name__
    init_names = tuple(f.name for f in declared if f.init)
    init_set = frozenset(init_names)
    # fields __init__ may have to fill: (name, default, factory), in order
    filled = tuple((f.name, f.default, f.default_factory) for f in declared
                   if not f.init or f.has_default)
    required = frozenset(f.name for f in declared if f.init and not f.has_default)
    compared_values = _getter(f.name for f in declared if f.compare)
    # as dataclasses: hash=None follows compare
    hashed_values = _getter(f.name for f in declared
                            if (f.compare if f.hash is None else f.hash))
    shown = tuple(f.name for f in declared if f.repr)
    post_init = getattr(cls, "__post_init__", None)
    # every field given by position, nothing to fill or run after: one update
    plain = len(init_names) if post_init is None and len(init_names) == len(declared) else -1

    def __init__(self, *args, **kwargs):
        if len(args) == plain and not kwargs:
            self.__dict__.update(zip(init_names, args))
            return
        if len(args) > len(init_names):
            raise TypeError(f"{name}() takes {len(init_names)} values, {len(args)} given")
        values = dict(zip(init_names, args))
        for key, value in kwargs.items():
            if key not in init_set or key in values:
                raise TypeError(f"{name}() got an unexpected or repeated argument {key!r}")
            values[key] = value
        for key, default, factory in filled:
            if key not in values:
                values[key] = factory() if factory is not MISSING else default
        if len(values) < len(declared):
            missing = sorted(required - values.keys())
            raise TypeError(f"{name}() is missing {', '.join(map(repr, missing))}")
        self.__dict__.update(values)
        if post_init is not None:
            self.__post_init__()

    def __repr__(self):
        shown_values = ", ".join(f"{key}={getattr(self, key)!r}" for key in shown)
        return f"{type(self).__qualname__}({shown_values})"

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return compared_values(self) == compared_values(other)

    def __setattr__(self, key, value):
        raise FrozenInstanceError(f"cannot assign to field {key!r} of {name}")

    def __delattr__(self, key):
        raise FrozenInstanceError(f"cannot delete field {key!r} of {name}")

    def __hash__(self):
        return hash(hashed_values(self))

    methods = [__init__, __repr__, __eq__]
    if frozen:
        methods += [__setattr__, __delattr__]
    for method in methods:      # what the class defines itself stays, as in dataclasses
        if method.__name__ not in cls.__dict__:
            method.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
            setattr(cls, method.__name__, method)
    # A class body that defines __eq__ gets __hash__ = None from Python: not its own.
    own_hash = cls.__dict__.get("__hash__", MISSING)
    if own_hash is MISSING or (own_hash is None and "__eq__" in cls.__dict__):
        cls.__hash__ = __hash__ if frozen else None
    cls.__valueclass_fields__ = declared
    cls.__match_args__ = init_names
    return cls

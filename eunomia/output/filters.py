"""`--filter 'comm==sh' --filter 'exit_code!=0'`: records kept by conditions on their
decoded, readable values (==, !=, <, >, <=, >=, and ~ for a regular expression)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..valueclass import valueclass

try:                                # the parser behind re (its modules' names by version)
    from re import _constants, _parser
except ImportError:                 # Python < 3.11
    import sre_constants as _constants
    import sre_parse as _parser

from ..errors import ArgumentError

_CONDITION = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(==|!=|<=|>=|<|>|~)\s*(.*?)\s*$")


@valueclass(frozen=True)
class Condition:
    """One `--filter` condition: FIELD OP TEXT."""

    field: str
    op: str
    text: str

    def test(self, value: Any) -> bool:
        if self.op == "~":
            return self._pattern.search(str(value)) is not None
        left, right = _comparable(value, self.text)
        if self.op == "==":
            return left == right
        if self.op == "!=":
            return left != right
        try:
            return {"<": left < right, ">": left > right, "<=": left <= right,
                    ">=": left >= right}[self.op]
        except TypeError:           # a number against text: no order
            return False

    @property
    def _pattern(self):
        return _compiled(self.text)


def _compiled(text: str):
    return re.compile(text)


def compile_pattern(text: str) -> re.Pattern:
    """`text` compiled, or ValueError saying why not. Python's matcher backtracks and
    holds the interpreter lock while it does: a pattern that repeats a repetition
    (`((.*)*)*x`) could take forever on a 20-character name, and every thread of a
    server with it. Such patterns are refused (they can always be written without)."""
    try:
        parsed = _parser.parse(text)
        compiled = _compiled(text)
    except (re.error, RecursionError, OverflowError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise ValueError(f"{reason}") from None
    if _nested_repeat(parsed, inside=False):
        raise ValueError("a repetition inside a repetition (like (a+)*) can take "
                         "exponential time; write it without one")
    return compiled


_REPEATS = (_constants.MAX_REPEAT, _constants.MIN_REPEAT, _constants.POSSESSIVE_REPEAT) \
    if hasattr(_constants, "POSSESSIVE_REPEAT") else (_constants.MAX_REPEAT,
                                                      _constants.MIN_REPEAT)


def _nested_repeat(items, inside: bool) -> bool:
    """Whether a repeat of more than one time holds another such repeat."""
    for op, argument in items:
        if op in _REPEATS:
            _, high, body = argument
            repeats = high is _constants.MAXREPEAT or high > 1
            if (repeats and inside) or _nested_repeat(body, inside or repeats):
                return True
        elif op is _constants.BRANCH:
            if any(_nested_repeat(branch, inside) for branch in argument[1]):
                return True
        elif op in (_constants.SUBPATTERN, _constants.ASSERT, _constants.ASSERT_NOT) and \
                _nested_repeat(argument[-1], inside):
            return True
    return False


def _comparable(value: Any, text: str) -> tuple:
    """Numbers compare as numbers (the text read as one), the rest as text."""
    if isinstance(value, bool):
        return str(value).lower(), text.lower()
    if isinstance(value, (int, float)):
        try:
            return value, int(text, 0)
        except ValueError:
            try:
                return value, float(text)
            except ValueError:
                return str(value), text
    return str(value), text


def parse_condition(text: str) -> Condition:
    match = _CONDITION.match(text)
    if match is None:
        raise ArgumentError(f"--filter {text!r}: expected FIELD OP VALUE with OP one of "
                            "==, !=, <, >, <=, >=, ~ (e.g. comm==sh, exit_code!=0)")
    condition = Condition(*match.groups())
    if condition.op == "~":
        try:
            compile_pattern(condition.text)
        except ValueError as exc:
            raise ArgumentError(f"--filter {text[:200]!r}: {exc}") from None
    return condition


def record_filter(conditions: list[Condition]) -> Callable[..., bool]:
    """(readable values, raw values) -> whether every condition holds (a field the record
    lacks: it does not). A number in the condition compares with the raw number, so a
    typed field still filters by value (`duration_ns>5000000` on a duration shown as
    "5.000ms"); anything else compares with the readable form (`sig==SIGUSR1`)."""
    def holds(condition: Condition, values: dict, raw: dict | None) -> bool:
        if raw is not None and condition.op != "~" and _number(condition.text) and \
                isinstance(raw.get(condition.field), (int, float)) and \
                not isinstance(raw.get(condition.field), bool):
            return condition.test(raw[condition.field])
        return condition.test(values[condition.field])

    def keep(values: dict, raw: dict | None = None) -> bool:
        return all(c.field in values and holds(c, values, raw) for c in conditions)
    return keep


def _number(text: str) -> bool:
    try:
        int(text, 0)
        return True
    except ValueError:
        try:
            float(text)
            return True
        except ValueError:
            return False

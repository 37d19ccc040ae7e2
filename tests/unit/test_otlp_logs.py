"""--otlp-body templates and attribute values, checked before anything runs."""

from __future__ import annotations

import pytest

from eunomia.errors import ArgumentError
from eunomia.output.formats import Stack
from eunomia.output.otlp_logs import attribute, template_fields


def test_a_template_names_fields():
    assert template_fields("{comm} exited with {exit_code}") == ["comm", "exit_code"]
    assert template_fields("no fields, {{braces}}") == []


@pytest.mark.parametrize("template", ["{", "{comm!x}", "{comm.real}", "{comm:>10}", "{0}",
                                      "{comm[0]}"])
def test_anything_but_plain_fields_is_one_clear_error(template):
    with pytest.raises(ArgumentError, match="--otlp-body"):
        template_fields(template)


def test_attribute_values_are_typed():
    assert attribute(7) == 7 and attribute("x") == "x" and attribute(True) is True
    assert attribute(1 << 70) == str(1 << 70)          # beyond OTLP's int64
    assert attribute(b"\x01\xff") == "01ff"
    assert attribute({"a": [1, 2]}) == '{"a":[1,2]}'
    assert attribute(Stack(["leaf", "root"])) == "root;leaf"

"""Regular expressions from users (--filter FIELD~RE, the exporter's regexp decoder): a
server runs them for remote clients, and Python's matcher holds the interpreter lock, so
one pattern with exponential backtracking would stop every thread."""

from __future__ import annotations

import pytest

from eunomia.errors import ArgumentError
from eunomia.output.filters import compile_pattern, parse_condition


@pytest.mark.parametrize("pattern", ["^bash$", "(ab)*c", "(a|b)+", "a{2}b*", "(?=a*)b",
                                     r"\d+\.\d+", "[a-z]+-[0-9]*"])
def test_ordinary_patterns_compile(pattern):
    assert compile_pattern(pattern).pattern == pattern


@pytest.mark.parametrize("pattern", ["((.*)*)*x", "(a+)+", "(a*)*", "(a|(b+)*)",
                                     "(?=(a+)+)b", "(a{1,3})*"])
def test_a_repetition_inside_a_repetition_is_refused(pattern):
    with pytest.raises(ValueError, match="repetition inside a repetition"):
        compile_pattern(pattern)


@pytest.mark.parametrize("pattern, message", [("[", "unterminated"),
                                              ("(" * 3000 + ")" * 3000, "nested too deeply")])
def test_broken_and_deeply_nested_patterns_are_one_line(pattern, message):
    with pytest.raises(ArgumentError, match=message) as raised:
        parse_condition(f"comm~{pattern}")
    assert "\n" not in str(raised.value) and len(str(raised.value)) < 400


def test_the_exporter_decoder_refuses_them_too():
    from eunomia.exporter.decoders import DecoderError, decoder_chain
    with pytest.raises(DecoderError, match="repetition inside a repetition"):
        decoder_chain([{"name": "regexp", "regexp": "(a+)+"}], 16)
    with pytest.raises(DecoderError, match="unknown decoder"):
        decoder_chain([{"name": [1]}], 16)          # not even a name: one line too

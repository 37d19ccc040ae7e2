"""Mutated packages, ELF objects and BTF get only EunomiaError: the package readers are
the door every package comes through (files, URLs, HTTP bodies, registries).

A bounded budget runs with the tests; `scripts/fuzz` runs long campaigns."""

from __future__ import annotations

import json
import os
import signal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eunomia.errors import EunomiaError
from tests.fuzz.harness import btf_span, object_of, read_everything, with_object

EXAMPLES = int(os.environ.get("EUNOMIA_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


class Hang(Exception):
    pass


def only_eunomia_errors(content: bytes, seconds: int = 30) -> None:
    """read_everything(content) ends within `seconds` with nothing or an EunomiaError."""
    def alarm(*_):
        raise Hang(f"no answer within {seconds} s")
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        read_everything(content)
    except EunomiaError:
        pass
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def seed(fuzz_packages):
    return json.loads(fuzz_packages["exitsnoop"].read_bytes())


def test_the_seed_package_reads_cleanly(seed):
    read_everything(json.dumps(seed).encode())


@FUZZ
@given(data=st.data())
def test_mutated_elf_bytes(seed, data):
    elf = bytearray(object_of(seed))
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(elf) - 1))
        elf[at] = data.draw(st.integers(0, 255))
    only_eunomia_errors(with_object(seed, bytes(elf)))


@FUZZ
@given(data=st.data())
def test_mutated_btf_bytes(seed, data):
    elf = bytearray(object_of(seed))
    start, size = btf_span(bytes(elf))
    for _ in range(data.draw(st.integers(1, 6))):
        at = start + data.draw(st.integers(0, size - 1))
        width = data.draw(st.sampled_from([1, 4]))
        value = data.draw(st.integers(0, (1 << (8 * width)) - 1))
        elf[at:at + width] = value.to_bytes(width, "little")
    only_eunomia_errors(with_object(seed, bytes(elf)))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 70), 1 << 70) | st.floats()
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=6)


def _paths(value, prefix=()):
    """Every (path, value) inside a JSON document, the object itself left out."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key != "bpf_object":
                yield (*prefix, key), item
                yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index), item
            yield from _paths(item, (*prefix, index))


@FUZZ
@given(data=st.data())
def test_mutated_package_documents(seed, data):
    doc = json.loads(json.dumps(seed))
    paths = list(_paths(doc))
    for _ in range(data.draw(st.integers(1, 3))):
        path, _ = data.draw(st.sampled_from(paths))
        target = doc
        for key in path[:-1]:
            target = target[key]
        if data.draw(st.booleans()) and isinstance(target, dict):
            target.pop(path[-1], None)
        else:
            target[path[-1]] = data.draw(JSON_VALUES)
        paths = list(_paths(doc))
        if not paths:
            break
    only_eunomia_errors(json.dumps(doc).encode())


def _string_spans(elf: bytes) -> list[tuple[int, int]]:
    """(offset, size) of the ELF's string tables and .BTF: the names libbpf reads."""
    from eunomia.elf import Elf
    parsed = Elf(elf)
    return [(s.offset, s.size) for s in parsed.sections
            if s.size and (s.type == 3 or s.name == ".BTF")]       # SHT_STRTAB


@settings(max_examples=max(EXAMPLES // 5, 10), deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_mutated_objects_open_in_libbpf_without_crashing(seed, data):
    """Mutated names, string tables and section headers, opened in libbpf (not loaded)
    in a child process: a signal, a hang or running out of memory there is a failure."""
    from tests.fuzz.harness import open_in_child
    elf = bytearray(object_of(seed))
    spans = _string_spans(bytes(elf))
    header_table = int.from_bytes(elf[0x28:0x30], "little")         # e_shoff
    for _ in range(data.draw(st.integers(1, 6))):
        where = data.draw(st.sampled_from(["name", "header"]))
        if where == "name":
            start, size = data.draw(st.sampled_from(spans))
            at = start + data.draw(st.integers(0, size - 1))
        else:
            at = header_table + data.draw(st.integers(0, len(elf) - header_table - 1))
        elf[at] = data.draw(st.sampled_from([0, 0xff, 0x80, 0xc3, 0x7f,
                                             data.draw(st.integers(0, 255))]))
    assert open_in_child(with_object(seed, bytes(elf))) is None

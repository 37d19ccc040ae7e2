"""A failure at any step of open, load or attach closes the libbpf object exactly once
and leaves no program loaded: each step is made to fail here (fault injection), with a
count of bpf_object__close calls per object."""

from __future__ import annotations

import collections
import gc
import os

import pytest

from eunomia import _libbpf, loaded
from eunomia.errors import EunomiaError
from eunomia.loaded import live
from eunomia.runtime.maps import BpfMap
from eunomia.runtime.object import BpfObject
from eunomia.runtime.program import BpfProgram
from tests.kernel.conftest import loaded_program_ids

PROGRAM = "send_ping"


class Injected(EunomiaError):
    """The failure this test injects."""


def fail(*args, **kwargs):
    raise Injected("injected")


# (what fails, where the function made to fail lives, its name)
STEPS = [
    ("reading a program's name at open", BpfProgram, "__init__"),
    ("reading a map at open", BpfMap, "__init__"),
    ("setting a global", loaded.OpenPackage, "set_global"),
    ("loading into the kernel", BpfObject, "load"),
    ("opening the event readers", live, "open_event_sources"),
    ("attaching a program", BpfProgram, "attach"),
]


@pytest.mark.parametrize("what, owner, attribute", STEPS, ids=[s[0] for s in STEPS])
def test_a_failure_at_each_step_closes_the_object_once(library_package, monkeypatch, what,
                                                        owner, attribute):
    package = library_package("events")
    closes = collections.Counter()
    close = _libbpf.lib.bpf.bpf_object__close

    def counting_close(handle):
        closes[handle] += 1
        close(handle)
    monkeypatch.setattr(_libbpf.lib.bpf, "bpf_object__close", counting_close)
    monkeypatch.setattr(owner, attribute, fail)
    before = loaded_program_ids([PROGRAM])
    with pytest.raises(Injected), package.open(targ_tgid=os.getpid()) as prog:
        prog.attach()
    gc.collect()            # any __del__ that would close a second time runs now
    assert closes and set(closes.values()) == {1}, closes
    assert not loaded_program_ids([PROGRAM]) - before

"""Typed maps on the real kernel: user space writes, the kernel reads and writes back
(fixtures/maps.bpf.c runs on the test's own getppid()), user space reads, deletes,
iterates and batches."""

from __future__ import annotations

import os

import pytest

from eunomia import MapError, open_pinned_map
from eunomia.maps import LpmKey
from eunomia.runtime.cpus import possible_cpu_count
from tests.kernel.conftest import needs_btf, needs_root

pytestmark = [needs_root, needs_btf]

# slots of the `results` array (the enum in maps.bpf.c)
HASH_SEEN, ARRAY_DOUBLE, LPM_MATCH, QUEUE_POP, TAIL_CALLED, STACK_ID, USER_RING, \
    LRU_SEEN, STRUCT_KEY = range(9)


@pytest.fixture
def prog(library_package):
    with library_package("maps").open(targ_tgid=os.getpid()) as loaded:
        yield loaded


def run_kernel_side(prog) -> dict:
    """Attaches the exercising program, calls getppid() once, detaches; the results."""
    prog.attach("exercise")
    os.getppid()
    prog.detach()
    return dict(prog.maps["results"].items())


def test_maps_get_the_class_of_their_type(prog):
    kinds = {name: type(m).__name__ for name, m in prog.maps.items()}
    assert kinds["counters"] == "HashMap" and kinds["lru"] == "HashMap"
    assert kinds["numbers"] == "ArrayMap" and kinds["percpu_hits"] == "PerCpuArrayMap"
    assert kinds["percpu_by_key"] == "PerCpuHashMap" and kinds["routes"] == "LpmTrieMap"
    assert kinds["inbox"] == kinds["outbox"] == "QueueMap"
    assert kinds["jump"] == "ProgArrayMap" and kinds["stacks"] == "StackTraceMap"
    assert kinds["commands"] == "UserRingBuffer"
    assert prog.maps[".rodata"] is prog.maps["maps.rodata"]
    assert prog.maps[".rodata"][0].targ_tgid == os.getpid()


def test_hash_round_trip_through_the_kernel(prog):
    counters = prog.maps["counters"]
    counters[1] = {"count": 41, "name": "hello"}
    assert 1 in counters and 2 not in counters
    results = run_kernel_side(prog)
    assert results[HASH_SEEN] == 41
    copy = counters[2]                         # written by the kernel: count + 1
    assert copy.count == 42 and copy["name"] == "hello"
    assert sorted(counters) == [1, 2] and len(counters) == 2
    assert dict(counters.items()) == {1: {"count": 41, "name": "hello"},
                                      2: {"count": 42, "name": "hello"}}
    del counters[1]
    with pytest.raises(KeyError):
        counters[1]
    with pytest.raises(KeyError):
        del counters[1]
    assert counters.get(1) is None
    counters.update({5: {"count": 5, "name": "five"}, 6: {"count": 6, "name": "six"}})
    assert sorted(counters) == [2, 5, 6]
    popped = dict(counters.pop_items())
    assert popped[6] == {"count": 6, "name": "six"} and len(counters) == 0
    counters.update({7: {"count": 7, "name": "x"}})
    counters.clear()
    assert len(counters) == 0


def test_struct_keys_and_lru(prog):
    prog.maps["flows"][{"pid": os.getpid(), "port": 80}] = 8080
    prog.maps["lru"][7] = 77
    results = run_kernel_side(prog)
    assert results[STRUCT_KEY] == 8080 and results[LRU_SEEN] == 77
    (key, value), = prog.maps["flows"].items()
    assert key.pid == os.getpid() and key.port == 80 and value == 8080


def test_bad_keys_and_values_say_what_and_where(prog):
    with pytest.raises(MapError, match="map 'counters': bad value"):
        prog.maps["counters"][1] = {"count": 1, "nope": 2}
    with pytest.raises(MapError, match="map 'counters': bad key"):
        prog.maps["counters"]["one"] = {"count": 1}
    with pytest.raises(MapError, match="does not fit"):
        prog.maps["counters"][1] = {"name": "x" * 40}


def test_array_has_no_delete_and_clear_zeroes(prog):
    numbers = prog.maps["numbers"]
    numbers[0] = 21
    assert run_kernel_side(prog)[ARRAY_DOUBLE] == 42
    assert numbers[1] == 42 and len(numbers) == 4 and list(numbers) == [0, 1, 2, 3]
    assert 3 in numbers and 4 not in numbers
    with pytest.raises(MapError, match="cannot be deleted"):
        del numbers[0]
    numbers.clear()
    assert numbers.values() == [0, 0, 0, 0]


def test_per_cpu_values_are_lists_with_a_sum(prog):
    cpus = possible_cpu_count()
    hits, by_key = prog.maps["percpu_hits"], prog.maps["percpu_by_key"]
    by_key[1] = 0
    hits[0] = [0] * cpus
    run_kernel_side(prog)
    assert len(hits[0]) == cpus and hits.sum(0) == 1
    assert by_key.sum(1) == 10 and len(by_key[1]) == cpus
    by_key[1] = list(range(cpus))
    assert by_key[1] == list(range(cpus))
    with pytest.raises(MapError, match="per-CPU values"):
        by_key[1] = [1] * (cpus + 1)


def test_lpm_trie_longest_prefix(prog):
    routes = prog.maps["routes"]
    routes["10.0.0.0/8"] = 8
    routes[(24, "10.1.2.0")] = 24
    assert run_kernel_side(prog)[LPM_MATCH] == 24
    assert routes[(32, "10.1.2.200")] == 24 and routes[(32, "10.9.9.9")] == 8
    keys = sorted(routes)
    assert keys == [LpmKey(8, b"\n\0\0\0"), LpmKey(24, b"\n\x01\x02\0")]
    assert str(keys[1].network) == "10.1.2.0/24"
    del routes["10.1.2.0/24"]
    assert routes[(32, "10.1.2.3")] == 8
    with pytest.raises(MapError, match="does not appear to be"):
        routes["not-an-address/8"] = 1


def test_queue_and_stack(prog):
    inbox, outbox = prog.maps["inbox"], prog.maps["outbox"]
    inbox.push(5)
    inbox.push(6)
    assert inbox.peek() == 5
    assert run_kernel_side(prog)[QUEUE_POP] == 5          # FIFO: the first pushed
    assert outbox.pop() == 10
    with pytest.raises(KeyError):
        outbox.pop()
    outbox.push(1)
    outbox.push(2)
    assert list(outbox) == [2, 1]                          # LIFO, drained
    assert list(inbox) == [6]
    for i in range(8):
        inbox.push(i)
    with pytest.raises(MapError):
        inbox.push(99)
    inbox.push(99, overwrite=True)
    assert list(inbox)[-1] == 99


def test_prog_array_tail_call_by_name(prog):
    jump = prog.maps["jump"]
    assert run_kernel_side(prog)[TAIL_CALLED] == 0
    jump[0] = "tail_target"
    assert jump[0] == "tail_target" and list(jump) == [0]
    assert run_kernel_side(prog)[TAIL_CALLED] == 1
    del jump[0]
    assert len(jump) == 0
    with pytest.raises(MapError, match="no program 'nope'"):
        jump[0] = "nope"


def test_stack_trace_walk(prog):
    stack_id = run_kernel_side(prog)[STACK_ID] - 1
    assert stack_id >= 0
    frames = prog.maps["stacks"].walk(stack_id)
    assert frames and all(address >= 0xffff800000000000 for address in frames)
    with pytest.raises(KeyError):
        prog.maps["stacks"].walk(63 if stack_id != 63 else 62)
    with pytest.raises(MapError, match="non-negative"):
        prog.maps["stacks"].walk(-14)


def test_user_ring_buffer_reaches_the_kernel(prog):
    commands = prog.maps["commands"]
    commands.push({"op": 1, "arg": 100})
    commands.push({"op": 2, "arg": 23})
    assert run_kernel_side(prog)[USER_RING] == 123


def test_pin_and_open_pinned(prog, tmp_path):
    if not os.path.ismount("/sys/fs/bpf"):
        pytest.skip("bpffs is not mounted on /sys/fs/bpf")
    path = f"/sys/fs/bpf/eunomia-test-{os.getpid()}"
    prog.maps["counters"][3] = {"count": 3, "name": "pinned"}
    prog.maps["counters"].pin(path)
    try:
        pinned = open_pinned_map(path)
        try:
            assert type(pinned).__name__ == "HashMap"
            assert pinned[3] == {"count": 3, "name": "pinned"}     # typed from kernel BTF
            pinned[4] = {"count": 4, "name": "via pin"}
            assert prog.maps["counters"][4].name == "via pin"
        finally:
            pinned.close()
    finally:
        prog.maps["counters"].unpin(path)
    assert not os.path.exists(path)
    with pytest.raises(MapError, match="open the pinned map"):
        open_pinned_map(path)


def test_items_with_a_limit_and_the_servers_map_view(prog, monkeypatch):
    """A view of a map reads it with batch lookups, up to a limit: `items(limit=)` gives
    at least that many entries (whole kernel batches), and the server's view shows the
    first rows, counts what it read and says when there is more."""
    from eunomia.server import views
    counters = prog.maps["counters"]
    counters.clear()
    counters.update({k: {"count": k, "name": f"n{k}"} for k in range(40)})
    everything = dict(counters.items())
    assert len(everything) == 40 and everything[7] == {"count": 7, "name": "n7"}
    assert 10 <= len(counters.items(limit=10)) <= 40
    view = views.map_view("counters", counters, limit=5)
    assert view["count"] == 40 and not view["more"] and len(view["entries"]) == 5
    assert all(everything[row["key"]] == row["value"] for row in view["entries"])
    monkeypatch.setattr(views, "MAP_COUNT_LIMIT", 8)
    view = views.map_view("counters", counters, limit=5)
    assert view["count"] == 8 and view["more"] and len(view["entries"]) == 5
    counters.clear()

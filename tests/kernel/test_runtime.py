"""The library and runtime on the real kernel: load, set globals, read rings, maps, errors."""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

import eunomia
from eunomia.errors import AttachError, LoadError, MapError, NotSupportedError, VerifierError
from eunomia.runtime import BpfObject, PerfBufferReader, RingBufferReader

from .conftest import exit_child, loaded_program_ids, wait_until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="loading BPF programs needs root"),
    pytest.mark.skipif(shutil.which("clang") is None, reason="compiling needs clang"),
]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("runtime")
    built = {}

    def build(source: Path):
        if source not in built:
            built[source] = eunomia.compile(str(source), outdir=str(out / source.stem))
        return built[source]
    return build


def exitsnoop(compiled):
    return compiled(ROOT / "examples/exitsnoop/exitsnoop.bpf.c")


def collect(prog, predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in prog.events(timeout=0.2):
            if predicate(event):
                return event
    raise AssertionError("no matching event within the time limit")


def test_ring_buffer_events_through_the_library(compiled):
    with exitsnoop(compiled).open() as prog:
        prog.attach()
        pid = exit_child(4)
        event = collect(prog, lambda e: e.pid == pid)
        assert event.exit_code == 4 and event["comm"] == "sh"


def test_globals_set_before_load_filter_in_the_kernel(compiled):
    # targ_pid is a .rodata constant: only the chosen process gets through.
    other = subprocess.Popen(["sleep", "30"])
    try:
        with exitsnoop(compiled).open(targ_pid=other.pid) as prog:
            prog.attach()
            exit_child(0)
            other.kill()
            other.wait()
            event = collect(prog, lambda e: True)
            assert event.pid == other.pid
    finally:
        if other.poll() is None:
            other.kill()


def test_perf_buffer_events(compiled, tmp_path):
    target = tmp_path / "opened-file"
    target.write_text("x")
    with compiled(ROOT / "examples/opensnoop/opensnoop.bpf.c").open(
            targ_pid=os.getpid()) as prog:
        prog.attach()
        with open(target):
            pass
        event = collect(prog, lambda e: e.fname == str(target))
        assert event.pid == os.getpid()


def test_many_records_none_lost_or_duplicated(compiled):
    # More records than a few pages of the ring, read as they come: each child once.
    with exitsnoop(compiled).open() as prog:
        prog.attach()
        pids = {exit_child(0) for _ in range(60)}
        seen = []
        deadline = time.monotonic() + 20
        while not pids <= set(seen) and time.monotonic() < deadline:
            seen.extend(e.pid for e in prog.events(timeout=0.2) if e.pid in pids)
        assert sorted(seen) == sorted(pids)


def test_map_update_and_lookup_raw(compiled):
    with compiled(ROOT / "tests/cli/fixtures/perf_event.bpf.c").open() as prog:
        samples = prog.raw_maps["samples"]
        key = struct.pack("<I", 0)
        samples.update(key, struct.pack("<Q", 41))
        assert struct.unpack("<Q", samples.lookup(key))[0] == 41
        assert key in list(samples.keys())
        assert samples.delete(key) is True or samples.type_name == "array"


def test_no_fd_leak_after_close(compiled):
    package = exitsnoop(compiled)
    with package.open() as prog:      # warm-up: libbpf caches some kernel probes
        prog.attach()
    before = set(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with package.open() as prog:
            prog.attach()
            list(prog.events(timeout=0))
    assert set(os.listdir("/proc/self/fd")) == before


def test_verifier_rejection_is_typed(compiled):
    package = compiled(ROOT / "tests/cli/fixtures/verifier_reject.bpf.c")
    with pytest.raises(VerifierError) as info:
        package.open()
    assert info.value.log and "invalid mem access" in "\n".join(info.value.log)


@pytest.fixture
def libbpf_unheard():
    """The eunomia.libbpf logger dropping warnings, as `ecli run` sets it without -v: the
    loads below then run with libbpf's print callback off (_libbpf.unheard)."""
    import logging
    logger = logging.getLogger("eunomia.libbpf")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


def test_a_quiet_load_that_fails_still_carries_the_verifier_log(compiled, libbpf_unheard):
    """The failed quiet load is made again with libbpf's messages: its error names the
    program and carries the log, as a load with them on does."""
    from eunomia import _libbpf
    from eunomia.loaded import BackgroundLoad, load_package
    with _libbpf.lib.unheard() as off:
        assert off, "libbpf's messages are off while nobody listens"
    package = compiled(ROOT / "tests/cli/fixtures/verifier_reject.bpf.c")
    for load in (lambda: load_package(package), lambda: BackgroundLoad(package).result()):
        with pytest.raises(VerifierError) as info:
            load()
        assert info.value.program and "invalid mem access" in "\n".join(info.value.log)


def test_background_load_gives_the_package_once_and_discard_closes_it(compiled,
                                                                      libbpf_unheard):
    from eunomia.loaded import BackgroundLoad
    package = exitsnoop(compiled)
    names = [prog.name for prog in package.meta.bpf_skel.progs]
    before = loaded_program_ids(names)
    loading = BackgroundLoad(package, {"targ_pid": 4321})
    loaded = loading.result()
    try:
        assert loaded_program_ids(names) - before, "the programs are in the kernel"
        assert loaded.maps[".rodata"][0] == {"targ_pid": 4321}    # set before the load
        with pytest.raises(eunomia.ArgumentError):
            loading.result()
        loading.discard()                               # taken: not closed by discard
        loaded.attach()
        assert loaded.links
    finally:
        loaded.close()
    assert loaded_program_ids(names) == before
    loading = BackgroundLoad(package)                   # never taken: discard closes it
    loading.discard()
    assert loaded_program_ids(names) == before


@pytest.mark.parametrize("fixture, feature", [("kprobe", "kprobe"), ("fentry", "fentry")])
def test_missing_kernel_features_are_typed(compiled, fixture, feature):
    if feature == "kprobe" and os.path.exists("/sys/bus/event_source/devices/kprobe"):
        pytest.skip("this kernel has kprobes: the live path is covered where it has not")
    package = compiled(ROOT / f"tests/cli/fixtures/{fixture}.bpf.c")
    with pytest.raises(NotSupportedError) as info, package.open() as prog:
        prog.attach()
    assert info.value.feature == feature


def test_object_btf_is_fixed_up_by_libbpf(compiled):
    package = exitsnoop(compiled)
    with BpfObject.open(package.bpf_object, name="exitsnoop") as obj:
        rodata = [t for t in obj.btf.types if getattr(t, "name", "") == ".rodata"]
        assert rodata and rodata[0].size > 0
        assert obj.maps[".rodata"].initial_value is not None


# ---- The runtime layer on its own: BpfObject, maps, readers, links, errors. ----------

def open_fixture(bpf_fixture, name: str, only: tuple[str, ...] = (), **rodata) -> BpfObject:
    """Opens fixtures/runtime/NAME.bpf.c; `only` keeps those programs autoloaded."""
    obj = BpfObject.open(bpf_fixture(name), name=name)
    try:
        for program in obj.programs.values():
            if only and program.name not in only:
                program.autoload = False
        if rodata:
            set_rodata(obj, **rodata)
    except BaseException:
        obj.close()
        raise
    return obj


def set_rodata(obj: BpfObject, **values: int) -> None:
    """Writes u32 globals of .rodata at the offsets its DATASEC gives."""
    datasec = next(t for t in obj.btf.types if getattr(t, "name", "") == ".rodata")
    view = obj.maps[".rodata"].initial_value
    for info in datasec.vars:
        name = obj.btf[info.type].name
        if name in values:
            struct.pack_into("<I", view, info.offset, values.pop(name))
    assert not values, f"no .rodata variables {sorted(values)}"


def bss_u64(obj: BpfObject, name: str) -> int:
    """A u64 global of .bss, read from the loaded map (one value: the whole section)."""
    datasec = next(t for t in obj.btf.types if getattr(t, "name", "") == ".bss")
    offset = next(i.offset for i in datasec.vars if obj.btf[i.type].name == name)
    value = obj.maps[".bss"].lookup(struct.pack("<I", 0))
    return struct.unpack_from("<Q", value, offset)[0]


EXIT_EVENT = struct.Struct("<Ii16s")


def read_until(reader, predicate, timeout: float = 10.0) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in reader.read(100):
            if predicate(record):
                return record
    raise AssertionError(f"no matching record in {reader.map_name} within {timeout}s")


def test_ring_buffer_reader_sees_a_child_exit(bpf_fixture):
    with open_fixture(bpf_fixture, "exit_events", only=("exit_rb",)) as obj:
        obj.load()
        with RingBufferReader(obj.maps["rb"]) as reader:
            obj.programs["exit_rb"].attach()
            pid = exit_child(3)
            record = read_until(reader, lambda r: EXIT_EVENT.unpack_from(r)[0] == pid)
    assert EXIT_EVENT.unpack_from(record)[1] == 3
    assert EXIT_EVENT.unpack_from(record)[2].rstrip(b"\0") == b"sh"


def test_perf_buffer_reader_sees_a_child_exit(bpf_fixture):
    with open_fixture(bpf_fixture, "exit_events", only=("exit_pb",)) as obj:
        obj.load()
        with PerfBufferReader(obj.maps["pb"], page_count=8) as reader:
            obj.programs["exit_pb"].attach()
            pid = exit_child(5)
            record = read_until(reader, lambda r: EXIT_EVENT.unpack_from(r)[0] == pid)
            assert reader.lost == 0
    # The raw sample is padded to 8 bytes: the event is its prefix.
    assert len(record) >= EXIT_EVENT.size and len(record) % 8 in (0, 4)
    assert EXIT_EVENT.unpack_from(record)[1] == 5


def test_rodata_filter_set_before_load_changes_what_the_kernel_sends(bpf_fixture):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        with open_fixture(bpf_fixture, "exit_events", only=("exit_rb",),
                          filter_tgid=sleeper.pid) as obj:
            obj.load()
            with RingBufferReader(obj.maps["rb"]) as reader:
                obj.programs["exit_rb"].attach()
                exit_child(0)
                sleeper.kill()
                sleeper.wait()
                record = read_until(reader, lambda r: True)
                assert EXIT_EVENT.unpack_from(record)[0] == sleeper.pid
                assert reader.read(0) == []
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()


def test_ring_buffer_wraps_without_loss_or_duplicates(bpf_fixture):
    # A one-page ring holds 128 records of 32 bytes; 1000 go through it, read promptly.
    with open_fixture(bpf_fixture, "getppid", only=("seq_rb",), target_tgid=os.getpid()) as obj:
        assert obj.maps["seq_ring"].max_entries == 4096
        obj.load()
        with RingBufferReader(obj.maps["seq_ring"]) as reader:
            obj.programs["seq_rb"].attach()
            seqs: list[int] = []
            for _ in range(50):
                for _ in range(20):
                    os.getppid()
                records = reader.read(0)
                assert len(records) == 20
                seqs.extend(struct.unpack_from("<QQ", r)[0] for r in records)
                assert all(struct.unpack_from("<QQ", r)[1] == ~s & (2**64 - 1)
                           for r, s in zip(records, seqs[-20:]))
            assert reader.consumer_pos == reader.producer_pos == 1000 * 32
            assert 0 < reader.fill_ratio <= 20 * 32 / 4096
    assert seqs == list(range(1000))


def test_perf_buffer_records_straddling_the_ring_end(bpf_fixture):
    # One 4 KiB page per CPU and 40-byte records: many records wrap around its end.
    with open_fixture(bpf_fixture, "getppid", only=("seq_pb",), target_tgid=os.getpid()) as obj:
        obj.load()
        with PerfBufferReader(obj.maps["seq_perf"], page_count=1) as reader:
            obj.programs["seq_pb"].attach()
            seqs: list[int] = []
            for _ in range(40):
                for _ in range(20):
                    os.getppid()
                records = reader.read(0)
                for record in records:
                    seq, check = struct.unpack_from("<QQ", record)
                    assert check == ~seq & (2**64 - 1)
                    seqs.append(seq)
            assert reader.lost == 0
    # Samples from different CPUs interleave: compare as sets, and count.
    assert sorted(seqs) == list(range(800))


def test_map_operations_both_ways(bpf_fixture):
    u32, u64 = struct.Struct("<I"), struct.Struct("<Q")
    with open_fixture(bpf_fixture, "getppid", only=("map_ops",), target_tgid=os.getpid()) as obj:
        obj.load()
        table, slots = obj.maps["table"], obj.maps["slots"]
        assert (table.type_name, slots.type_name) == ("hash", "array")
        slots.update(u32.pack(0), u64.pack(20))
        table.update(u32.pack(3), u64.pack(1234))
        with obj.programs["map_ops"].attach():
            os.getppid()
        assert table.lookup(u32.pack(7)) == u64.pack(41)          # kernel read our array
        assert slots.lookup(u32.pack(1)) == u64.pack(1234)        # kernel read our hash
        assert sorted(table.keys()) == [u32.pack(3), u32.pack(7)]
        assert sorted(table.lookup_batch(chunk=1)) == sorted(table.items())
        assert len(slots.lookup_batch()) == 4
        assert table.lookup_and_delete(u32.pack(3)) == u64.pack(1234)
        assert table.lookup(u32.pack(3)) is None
        assert table.delete(u32.pack(7)) is True and table.delete(u32.pack(7)) is False
        with pytest.raises(MapError, match="key is 2 bytes"):
            table.lookup(b"\0\0")


def test_map_pin_and_unpin(bpf_fixture, tmp_path):
    if not os.path.ismount("/sys/fs/bpf"):
        pytest.skip("bpffs is not mounted on /sys/fs/bpf")
    path = f"/sys/fs/bpf/eunomia_test_{os.getpid()}"
    with open_fixture(bpf_fixture, "getppid", only=("map_ops",), target_tgid=1) as obj:
        obj.load()
        obj.maps["table"].pin(path)
        try:
            assert os.path.exists(path) and obj.maps["table"].pinned
        finally:
            obj.maps["table"].unpin(path)
        assert not os.path.exists(path)


def test_uprobe_on_a_test_binary_fires(bpf_fixture, user_binary):
    target = user_binary("uprobe_target")
    with open_fixture(bpf_fixture, "hooks", only=("on_target_add",)) as obj:
        obj.load()
        obj.programs["on_target_add"].attach_uprobe(str(target), "eunomia_rt_add")
        subprocess.run([str(target), "5"], check=True, timeout=30)
        wait_until(lambda: bss_u64(obj, "uprobe_hits") >= 5, what="5 uprobe hits")
        assert bss_u64(obj, "uprobe_hits") == 5


def test_uprobe_on_a_bare_library_name(bpf_fixture):
    # "libc.so.6" is resolved through ldconfig; only this process is probed.
    with open_fixture(bpf_fixture, "hooks", only=("on_libc_getpid",)) as obj:
        obj.load()
        obj.programs["on_libc_getpid"].attach_uprobe("libc.so.6", "getpid", pid=os.getpid())
        os.getpid()
        wait_until(lambda: bss_u64(obj, "libc_hits") >= 1, what="a getpid() uprobe hit")


def test_uprobe_on_a_missing_binary_or_function(bpf_fixture, user_binary):
    with open_fixture(bpf_fixture, "hooks", only=("on_target_add",)) as obj:
        obj.load()
        program = obj.programs["on_target_add"]
        with pytest.raises(AttachError, match="binary 'no-such-binary-here' not found"):
            program.attach_uprobe("no-such-binary-here", "main")
        with pytest.raises(AttachError, match="function 'no_such_function' not found"):
            program.attach_uprobe(str(user_binary("uprobe_target")), "no_such_function")


def udp_to_loopback(count: int = 3) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(count):
            sock.sendto(b"eunomia", ("127.0.0.1", 9))


def net_program_ids_on_lo() -> set[int]:
    """Ids of the XDP and tc programs on lo (`bpftool -j net show dev lo`), and of the
    programs of tcx links (bpftool 7.1 lists those only as links, of type 11)."""
    out = subprocess.run(["bpftool", "-j", "net", "show", "dev", "lo"], capture_output=True,
                         text=True, check=True, timeout=30).stdout
    ids = set()
    for entry in json.loads(out or "[]"):
        for kind in ("xdp", "tc", "tcx"):
            ids.update(item.get("id") for item in entry.get(kind, []))
    links = subprocess.run(["bpftool", "-j", "link", "show"], capture_output=True, text=True,
                           check=True, timeout=30).stdout
    ids.update(link.get("prog_id") for link in json.loads(links or "[]")
               if link.get("type") in ("tcx", 11) and link.get("ifindex") in (None, 1))
    return ids


def lo_has_clsact() -> bool:
    out = subprocess.run(["tc", "qdisc", "show", "dev", "lo"], capture_output=True,
                         text=True, check=False).stdout
    return "clsact" in out


@pytest.mark.parametrize("program, counter", [("count_xdp", "xdp_packets"),
                                              ("count_tc", "tc_packets")])
def test_xdp_and_tc_attach_to_lo_and_detach_cleanly(bpf_fixture, program, counter):
    clsact_before = lo_has_clsact()
    with open_fixture(bpf_fixture, "hooks", only=(program,)) as obj:
        obj.load()
        prog = obj.programs[program]
        prog_id = prog.info()["id"]
        link = prog.attach_xdp() if program == "count_xdp" else prog.attach_tc("lo")
        assert prog_id in net_program_ids_on_lo()
        wait_until(lambda: udp_to_loopback() or bss_u64(obj, counter) > 0,
                   what=f"{program} to count a packet")
        link.detach()
        link.detach()                     # idempotent
        assert prog_id not in net_program_ids_on_lo()
    if program == "count_tc" and shutil.which("tc") and not clsact_before:
        assert not lo_has_clsact()        # the clsact qdisc we made is gone again


def test_perf_event_program_samples_every_cpu(bpf_fixture):
    with open_fixture(bpf_fixture, "hooks", only=("count_samples",)) as obj:
        obj.load()
        with obj.programs["count_samples"].attach_perf_event(sample_freq=1000) as link:
            def busy_sampled():
                end = time.monotonic() + 0.05
                while time.monotonic() < end:
                    pass
                return bss_u64(obj, "perf_samples") > 0
            wait_until(busy_sampled, what="a CPU-clock sample")
        assert not link.attached


def test_verifier_rejection_carries_the_log(bpf_fixture):
    with open_fixture(bpf_fixture, "broken", only=("rejected",)) as obj, \
            pytest.raises(VerifierError) as info:
        obj.load()
    assert info.value.program == "rejected"
    assert any("invalid mem access" in line for line in info.value.log)
    assert not any("BEGIN PROG LOAD LOG" in line for line in info.value.log)


def test_kprobe_is_not_supported_here(bpf_fixture):
    if os.path.exists("/sys/bus/event_source/devices/kprobe"):
        pytest.skip("this kernel has kprobes: the not-supported path cannot be shown")
    with open_fixture(bpf_fixture, "broken", only=("needs_kprobes",)) as obj:
        obj.load()
        with pytest.raises(NotSupportedError) as info:
            obj.programs["needs_kprobes"].attach()
    assert info.value.feature == "kprobe" and "tracepoint" in info.value.hint


def test_fentry_is_not_supported_here(bpf_fixture):
    with open_fixture(bpf_fixture, "broken", only=("needs_trampolines",)) as obj:
        try:
            obj.load()                    # refused at load on this kernel (EPERM)
            obj.programs["needs_trampolines"].attach()
        except NotSupportedError as exc:
            assert exc.feature == "fentry" and "tp_btf" in exc.hint
        else:
            pytest.skip("this kernel runs fentry programs")


def test_missing_tracepoint_names_it(bpf_fixture):
    with open_fixture(bpf_fixture, "broken", only=("missing_tracepoint",)) as obj:
        obj.load()
        with pytest.raises(AttachError,
                           match="'eunomia_no_such_category/no_such_event' does not exist"):
            obj.programs["missing_tracepoint"].attach()


def test_close_unloads_programs_and_detaches_links(bpf_fixture):
    names = ("exit_rb", "exit_pb")
    with open_fixture(bpf_fixture, "exit_events") as obj:
        obj.load()
        link = obj.programs["exit_rb"].attach()
        obj.programs["exit_pb"].attach()
        assert len(loaded_program_ids(names)) >= 2
    assert not link.attached              # close() detached what was still attached
    assert loaded_program_ids(names) == set()


def test_runtime_cycle_leaks_no_fds(bpf_fixture):
    def cycle():
        with open_fixture(bpf_fixture, "exit_events") as obj:
            obj.load()
            with RingBufferReader(obj.maps["rb"]) as rb, PerfBufferReader(obj.maps["pb"], 2):
                obj.programs["exit_rb"].attach()
                obj.programs["exit_pb"].attach()
                rb.read(0)
    cycle()                               # warm-up: libbpf caches some feature probes
    before = sorted(os.listdir("/proc/self/fd"))
    for _ in range(3):
        cycle()
    assert sorted(os.listdir("/proc/self/fd")) == before


def test_open_failure_leaves_nothing_open():
    before = sorted(os.listdir("/proc/self/fd"))
    with pytest.raises(LoadError, match="open BPF object 'junk'"):
        BpfObject.open(b"\x7fELF not really an object", name="junk")
    assert sorted(os.listdir("/proc/self/fd")) == before


def test_tc_removes_the_clsact_qdisc_it_created(bpf_fixture):
    # On a veth pair of our own, so no other user's clsact is in the way.
    if shutil.which("ip") is None or shutil.which("tc") is None:
        pytest.skip("needs ip and tc (iproute2)")
    name = f"eun{os.getpid() % 100000}"
    made = subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name",
                           name + "p"], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot create a veth pair: {made.stderr.strip()}")
    try:
        def clsact() -> bool:
            return "clsact" in subprocess.run(["tc", "qdisc", "show", "dev", name],
                                              capture_output=True, text=True, check=False).stdout
        with open_fixture(bpf_fixture, "hooks", only=("count_tc",)) as obj:
            obj.load()
            with obj.programs["count_tc"].attach_tc(name, ingress=False, clsact=True):
                assert clsact()
            assert not clsact()
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)


UNPRIVILEGED_LOAD = """
import sys
from eunomia.errors import PermissionDeniedError
from eunomia.runtime import BpfObject
with BpfObject.open(sys.stdin.buffer.read(), name="getppid") as obj:
    try:
        obj.load()
    except PermissionDeniedError as exc:
        print("denied:", exc)
"""


def test_loading_without_privileges_is_permission_denied(bpf_fixture):
    if shutil.which("setpriv") is None:
        pytest.skip("dropping privileges needs setpriv (util-linux)")
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
         sys.executable, "-c", UNPRIVILEGED_LOAD], input=bpf_fixture("getppid"),
        capture_output=True, timeout=60, check=False, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr.decode()
    assert b"denied: permission denied loading" in result.stdout
    assert b"run as root" in result.stdout
    assert result.stderr == b""           # the library logs; it does not print

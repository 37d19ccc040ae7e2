"""`ecli run APP.wasm`: a guest built here loads exitsnoop's object through the wasm_bpf
host functions, attaches it and polls its ring buffer; real processes exit."""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.cli.conftest import ECLI, Ecli, needs_root, one_error_line, run_ecli, wait_until
from tests.kernel.conftest import exit_child, loaded_programs

pytestmark = needs_root


def guest(module, *args: str, options: tuple[str, ...] = ()) -> Ecli:
    return Ecli([*options, str(module), *args])


def attached(run: Ecli) -> None:
    run.wait_line(lambda line: line == "attached", 30, what="the guest to attach")


def no_exitsnoop_left(before: dict) -> bool:
    return sum(name == "handle_exit" for name in loaded_programs().values()) <= \
        sum(name == "handle_exit" for name in before.values())


def test_the_guest_prints_real_exits_and_its_exit_code_is_ecli_s(exits_guest):
    before = loaded_programs()
    run = guest(exits_guest, "0")
    attached(run)
    pid = exit_child(3)
    run.wait_line(lambda line: line == f"{pid} 3 sh", 20, what="the child's exit")
    assert run.stop(signal.SIGINT) == 0
    assert run.lines[-1] == "stopping"          # its poll said -EINTR: it ended itself
    assert no_exitsnoop_left(before)
    # argv after the module is the guest's; its proc_exit code is ecli's
    counted = guest(exits_guest, "1", "7")
    attached(counted)
    exit_child(4)
    assert counted.proc.wait(30) == 7


def test_map_operations_go_through_the_host(exits_guest):
    result = run_ecli("run", exits_guest, "map")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["lookup 0 1", "missing -2", "walked 3", "delete 0",
                                          "bad cmd -22"]


def test_the_callback_wrapper_of_tinygo_guests(exits_guest):
    run = guest(exits_guest, "wrapper", "1000")
    attached(run)
    pid = exit_child(5)
    run.wait_line(lambda line: line == f"{pid} 5 sh", 20, what="an exit through go-callback")
    run.stop()


def test_a_pointer_outside_the_guest_is_a_trap_with_one_line(exits_guest):
    before = loaded_programs()
    one_error_line(run_ecli("run", exits_guest, "badptr"), "the guest trapped",
                   "wasm_bpf_map_operate: the key at 0xfffffff0",
                   "outside the guest's memory")
    assert no_exitsnoop_left(before)


def test_an_fd_the_guest_does_not_own_is_refused(exits_guest):
    for fd in ("0", "1", "2", "3", "100"):
        result = run_ecli("run", exits_guest, "notmine", fd)
        assert result.stdout.strip() == "notmine -9", (fd, result.stdout)    # -EBADF


@pytest.mark.parametrize("mode, sig", [("spin", signal.SIGINT), ("spincb", signal.SIGTERM),
                                       ("0", signal.SIGHUP)])
def test_a_signal_stops_any_guest_and_detaches(exits_guest, mode, sig):
    """A busy loop, a busy callback, or a guest blocked polling: each ends at once, its
    programs detached (bounded waits, no timing asserted)."""
    before = loaded_programs()
    run = guest(exits_guest, mode)
    if mode != "spin":
        attached(run)
    if mode == "spincb":
        exit_child(1)
        wait_until(lambda: len(run.lines) >= 2, 20, what="the callback to start spinning")
    elif mode == "spin":
        run.wait_line(lambda line: line == "spinning", 30, what="the busy loop")
    assert run.stop(sig, timeout=10) == 0
    if mode != "0":
        assert any("interrupted" in line for line in run.errors), run.errors
    assert no_exitsnoop_left(before)


def test_duration_ends_a_guest(exits_guest):
    result = subprocess.run([*ECLI, "run", "--duration", "1", str(exits_guest), "0"],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "stopping"


def test_guest_memory_is_bounded(exits_guest):
    assert run_ecli("run", exits_guest, "alloc", "4", timeout=30).stdout.strip() == "alloc ok"
    small = subprocess.run([*ECLI, "run", "--wasm-memory", "16M", str(exits_guest), "alloc",
                            "64"], capture_output=True, text=True, timeout=30, check=False)
    assert (small.returncode, small.stdout.strip()) == (5, "alloc failed")
    default = run_ecli("run", exits_guest, "alloc", "300", timeout=60)     # over 256M
    assert (default.returncode, default.stdout.strip()) == (5, "alloc failed")


def test_only_directories_given_are_visible(exits_guest, tmp_path):
    (tmp_path / "note.txt").write_text("for the guest\n")
    hidden = run_ecli("run", exits_guest, "cat", "/data/note.txt")
    assert hidden.stdout.strip() == "cannot open /data/note.txt"
    shown = subprocess.run([*ECLI, "run", "--dir", f"{tmp_path}:/data", str(exits_guest),
                            "cat", "/data/note.txt"], capture_output=True, text=True,
                           timeout=30, check=False)
    assert shown.stdout == "for the guest\n"


def test_bad_modules_and_options_are_one_line(exits_guest, tmp_path, example_package):
    junk = tmp_path / "junk.wasm"
    junk.write_bytes(b"\0asm\x01\0\0\0" + b"\xff" * 40)
    one_error_line(run_ecli("run", junk), "junk.wasm: not a valid Wasm module")
    one_error_line(run_ecli("run", "-p", "wasm", example_package("exitsnoop")),
                   "not a Wasm module")
    one_error_line(run_ecli("run", "--dir", str(tmp_path), example_package("exitsnoop")),
                   "--dir and --wasm-memory are for Wasm modules")
    one_error_line(run_ecli("run", "--wasm-memory", "8g", exits_guest), "4G at most")
    # a module that imports what the host does not offer
    module = b"\0asm\x01\0\0\0" + bytes.fromhex(
        "010401600000"                          # type: () -> ()
        "020b0103656e76036e6f700000")           # import env.nop
    odd = tmp_path / "odd.wasm"
    odd.write_bytes(module)
    one_error_line(run_ecli("run", odd), "env::nop")


def test_the_library_runs_a_module_with_its_output_captured(exits_guest):
    import eunomia
    module = eunomia.Package.load(str(exits_guest))
    assert isinstance(module, eunomia.WasmModule)
    out: list[bytes] = []
    result = eunomia.run_wasm(module, ["map"], options=eunomia.WasmOptions(stdout=out.append))
    assert result.exit_code == 0
    assert b"".join(out).startswith(b"lookup 0 1\n")
    with pytest.raises(eunomia.WasmError, match="the guest trapped"):
        eunomia.run_wasm(module, ["badptr"])


def _wat_module(tmp_path, name: str, text: str):
    import wasmtime
    path = tmp_path / f"{name}.wasm"
    path.write_bytes(wasmtime.wat2wasm(text))
    return path


START_LOOP = """(module (memory (export "memory") 1)
  (func $spin (loop $again (br $again)))
  (start $spin)
  (func (export "_start")))"""


@pytest.mark.parametrize("stop", ["duration", "sigint"])
def test_a_start_function_that_never_returns_is_stopped(tmp_path, stop):
    """A module's own start function runs when it is instantiated: in the guest's thread,
    where --duration and Ctrl-C reach it."""
    module = _wat_module(tmp_path, "startloop", START_LOOP)
    if stop == "duration":
        result = subprocess.run([*ECLI, "run", "--duration", "1", str(module)],
                                capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 0, result.stderr
        assert result.stderr.endswith("did not end within a moment of the stop: "
                                      "interrupted\n"), result.stderr
        return
    proc = subprocess.Popen([*ECLI, "run", str(module)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    # the guest spins at once and prints nothing: wait for its thread to burn CPU
    wait_until(lambda: _cpu_seconds(proc.pid) > 0.3, 30, what="the start function to spin")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, 130) and "Traceback" not in err, (proc.returncode, err)


def _cpu_seconds(pid: int) -> float:
    import os
    from pathlib import Path
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("name, text, message", [
    ("memories", """(module (memory 1) (memory 1) (func (export "_start")))""",
     "memory count"),
    ("table", """(module (memory (export "memory") 1) (table 100000000 funcref)
                 (func (export "_start")))""", "table"),
])
def test_wasm_memory_bounds_every_memory_and_table(tmp_path, name, text, message):
    """--wasm-memory bounds the linear memory; a second memory, or a table of 10^8
    elements, would go around it: refused in one line."""
    module = _wat_module(tmp_path, name, text)
    one_error_line(run_ecli("run", "--wasm-memory", "4M", module, timeout=30), message)


def test_an_exit_status_wasi_does_not_allow_is_one_line(tmp_path):
    module = _wat_module(tmp_path, "exit200", """(module
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start") (call $exit (i32.const 200))))""")
    one_error_line(run_ecli("run", module, timeout=30), "exit200.wasm")


@pytest.mark.parametrize("memory", [-1, 0, "1M", 5 << 30])
def test_the_library_checks_its_wasm_options(memory):
    import eunomia
    from eunomia.wasm.run import WasmOptions
    with pytest.raises(eunomia.EunomiaError, match="memory_bytes"):
        eunomia.run_wasm(b"\0asm\x01\0\0\0", options=WasmOptions(memory_bytes=memory))
    with pytest.raises(eunomia.EunomiaError, match="not NoneType"):
        eunomia.run_wasm(None)


def test_a_trap_says_what_trapped(tmp_path):
    module = _wat_module(tmp_path, "trap", """(module (memory (export "memory") 1)
      (func (export "_start") (drop (i32.load (i32.const 1000000)))))""")
    one_error_line(run_ecli("run", module, timeout=30),
                   "trap.wasm: the guest trapped: wasm trap: out of bounds memory access")

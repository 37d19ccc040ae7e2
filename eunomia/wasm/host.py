"""The `wasm_bpf` host functions eunomia-bpf's Wasm runtime gives its guests, built on
this project's run-time layer: the same libbpf loader, attach plan, links and ring and
perf buffer readers as package runs.

    wasm_load_bpf_object(i32 buf, i32 size) -> i64 handle (0: failed)
    wasm_attach_bpf_program(i64 obj, i32 name, i32 target) -> i32
    wasm_bpf_map_fd_by_name(i64 obj, i32 name) -> i32 fd
    wasm_bpf_map_operate(i32 fd, i32 cmd, i32 key, i32 value, i32 next_key, i64 flags)
    wasm_bpf_buffer_poll(i64 obj, i32 fd, i32 callback, i32 ctx, i32 data, i32 size,
                         i32 timeout_ms) -> i32 records (or -errno)
    wasm_close_bpf_object(i64 obj) -> i32
    callback-wrapper.wasm_bpf_buffer_poll: the same poll without `callback`, calling the
        guest's "go-callback" export (TinyGo guests)

Errors are returned as upstream returns them (0 from a failed load, -errno from the rest)
and said once on the host's log. A pointer outside the guest's memory, or a callback
that is not one, traps the guest (GuestFault). A guest reaches only the objects it
loaded and their maps: any other fd is -EBADF.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable

from ..attach_plan import AttachOptions, attach_program
from ..errors import EunomiaError
from ..valueclass import field, valueclass
from .memory import GuestFault, GuestMemory

MAX_OBJECTS = 64            # BPF objects one guest may hold at once
POLL_SLICE_MS = 100         # a poll looks at the stop request this often
_LOOKUP, _UPDATE, _DELETE, _NEXT_KEY = 1, 2, 3, 4


@valueclass
class _Object:
    bpf: object                                     # runtime.BpfObject, loaded
    maps: dict[int, object] = field(default_factory=dict)   # fd -> runtime.BpfMap
    reader: object | None = None                    # the ring or perf buffer polled
    pending: list = field(default_factory=list)     # records read, not yet handed over

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
        self.bpf.close()        # detaches every link first


class WasmBpfHost:
    """The BPF objects of one guest; close() detaches and frees them all."""

    def __init__(self, log: Callable[[str], None] = lambda text: None):
        self.log = log
        self.stop = threading.Event()           # set: polls return -EINTR
        self._objects: dict[int, _Object] = {}
        self._next_handle = 1
        self._lock = threading.Lock()

    # -- wiring ------------------------------------------------------------------------

    def define(self, linker) -> None:
        from wasmtime import FuncType, ValType
        i32, i64 = ValType.i32(), ValType.i64()
        imports = {
            "wasm_load_bpf_object": ([i32, i32], [i64], self.load),
            "wasm_attach_bpf_program": ([i64, i32, i32], [i32], self.attach),
            "wasm_bpf_map_fd_by_name": ([i64, i32], [i32], self.map_fd_by_name),
            "wasm_bpf_map_operate": ([i32, i32, i32, i32, i32, i64], [i32], self.map_operate),
            "wasm_bpf_buffer_poll": ([i64, i32, i32, i32, i32, i32, i32], [i32],
                                     self.buffer_poll),
            "wasm_close_bpf_object": ([i64], [i32], self.close_object),
        }
        for name, (params, results, function) in imports.items():
            linker.define_func("wasm_bpf", name, FuncType(params, results), function,
                               access_caller=True)
        linker.define_func("callback-wrapper", "wasm_bpf_buffer_poll",
                           FuncType([i64, i32, i32, i32, i32, i32], [i32]),
                           self.wrapped_poll, access_caller=True)

    def close(self) -> None:
        """Detaches every program and frees every object the guest left open."""
        with self._lock:
            objects, self._objects = list(self._objects.values()), {}
        for found in objects:
            try:
                found.close()
            except EunomiaError as exc:
                self.log(f"closing a BPF object: {exc}")

    @property
    def attached(self) -> int:
        return sum(len(p.links) for o in self._objects.values()
                   for p in o.bpf.programs.values())

    # -- the imports -------------------------------------------------------------------

    @staticmethod
    def _memory(caller, call: str) -> GuestMemory:
        memory = caller.get("memory")
        if memory is None:
            raise GuestFault(f"{call}: the guest exports no memory")
        return GuestMemory(memory, caller, call)

    def _object(self, handle: int) -> _Object | None:
        return self._objects.get(handle & 0xFFFFFFFFFFFFFFFF)

    def load(self, caller, buffer: int, size: int) -> int:
        from ..runtime import BpfObject
        memory = self._memory(caller, "wasm_load_bpf_object")
        elf = memory.read(buffer, size & 0xFFFFFFFF, "the object")
        if len(self._objects) >= MAX_OBJECTS:
            self.log(f"wasm_load_bpf_object: the guest holds {MAX_OBJECTS} objects already")
            return 0
        try:
            bpf = BpfObject.open(elf, f"wasm-{self._next_handle}")
            try:
                bpf.load()
            except BaseException:
                bpf.close()
                raise
        except EunomiaError as exc:
            self.log(f"wasm_load_bpf_object: {exc}")
            return 0
        with self._lock:
            handle = self._next_handle
            self._next_handle += 1
            self._objects[handle] = _Object(bpf, {m.fd: m for m in bpf.maps.values()})
        return handle

    def attach(self, caller, handle: int, name: int, target: int) -> int:
        memory = self._memory(caller, "wasm_attach_bpf_program")
        found = self._object(handle)
        if found is None:
            return -errno.EINVAL
        program_name = memory.string(name, "the program name")
        program = found.bpf.programs.get(program_name)
        if program is None:
            self.log(f"wasm_attach_bpf_program: no program '{program_name}' in the object")
            return -errno.ENOENT
        where = memory.string(target, "the attach target") if target else ""
        section = program.section_name
        try:
            if where and section.startswith(("sockops", "cgroup")):
                program.attach_cgroup(where)
            elif where and section.startswith("xdp"):
                program.attach_xdp(where)
            else:
                attach_program(program, {}, AttachOptions())   # by its section
        except EunomiaError as exc:
            self.log(f"wasm_attach_bpf_program: {exc}")
            return -(getattr(exc, "errno", None) or errno.EINVAL)
        return 0

    def map_fd_by_name(self, caller, handle: int, name: int) -> int:
        memory = self._memory(caller, "wasm_bpf_map_fd_by_name")
        found = self._object(handle)
        if found is None:
            return -errno.EINVAL
        bpf_map = found.bpf.maps.get(memory.string(name, "the map name"))
        return bpf_map.fd if bpf_map is not None else -errno.ENOENT

    def _map(self, fd: int):
        for found in list(self._objects.values()):
            if fd in found.maps:
                return found.maps[fd]
        return None

    def map_operate(self, caller, fd: int, cmd: int, key: int, value: int, next_key: int,
                    flags: int) -> int:
        memory = self._memory(caller, "wasm_bpf_map_operate")
        bpf_map = self._map(fd)
        if bpf_map is None:
            return -errno.EBADF         # not a map of an object this guest loaded
        if cmd not in (_LOOKUP, _UPDATE, _DELETE, _NEXT_KEY):
            return -errno.EINVAL
        raw_key = memory.read(key, bpf_map.key_size, "the key")
        raw_value = memory.read(value, bpf_map.value_stride, "the value") \
            if cmd == _UPDATE else None
        if cmd == _LOOKUP:
            memory.read(value, bpf_map.value_stride, "the value")   # checked before
        if cmd == _NEXT_KEY:
            memory.read(next_key, bpf_map.key_size, "the next key")
        result, out = bpf_map.operate(cmd, raw_key, raw_value, flags & 0xFFFFFFFFFFFFFFFF)
        if result == 0 and out is not None:
            memory.write(value if cmd == _LOOKUP else next_key, out,
                         "the value" if cmd == _LOOKUP else "the next key")
        return result

    def buffer_poll(self, caller, handle: int, fd: int, callback: int, context: int,
                    data: int, size: int, timeout_ms: int) -> int:
        call = "wasm_bpf_buffer_poll"
        table = caller.get("__indirect_function_table")
        if table is None:
            raise GuestFault(f"{call}: the guest exports no __indirect_function_table "
                             "(link it with -Wl,--export-table)")
        function = table.get(caller, callback & 0xFFFFFFFF)
        if function is None or not callable(function):
            raise GuestFault(f"{call}: callback {callback} is no function of the guest's "
                             "table")
        return self._poll(caller, call, handle, fd, function, context, data, size,
                          timeout_ms)

    def wrapped_poll(self, caller, handle: int, fd: int, context: int, data: int,
                     size: int, timeout_ms: int) -> int:
        call = "callback-wrapper.wasm_bpf_buffer_poll"
        function = caller.get("go-callback")
        if function is None or not callable(function):
            raise GuestFault(f"{call}: the guest exports no 'go-callback' function")
        return self._poll(caller, call, handle, fd, function, context, data, size,
                          timeout_ms)

    def _poll(self, caller, call: str, handle: int, fd: int, function, context: int,
              data: int, size: int, timeout_ms: int) -> int:
        memory = self._memory(caller, call)
        size &= 0xFFFFFFFF
        memory.read(data, size, "the record buffer")        # checked before any record
        found = self._object(handle)
        if found is None:
            return -errno.EINVAL
        bpf_map = found.maps.get(fd)
        if bpf_map is None:
            return -errno.EBADF
        if found.reader is None:
            from ..runtime import PerfBufferReader, RingBufferReader
            if bpf_map.type_name == "ringbuf":
                found.reader = RingBufferReader(bpf_map)
            elif bpf_map.type_name == "perf_event_array":
                found.reader = PerfBufferReader(bpf_map)
            else:
                return -errno.EINVAL
        records = self._wait_for_records(found, timeout_ms if timeout_ms > 0 else 100)
        if records is None:
            return -errno.EINTR
        delivered = 0
        while found.pending:
            record = bytes(found.pending.pop(0))[:size]
            memory.write(data, record, "the record buffer")
            function(caller, context, data, len(record))
            delivered += 1
            if self.stop.is_set():
                break           # the rest waits for a next poll (if the guest makes one)
        return delivered

    def _wait_for_records(self, found: _Object, timeout_ms: int) -> list | None:
        """The records read within `timeout_ms` (maybe none); None when a stop is asked."""
        deadline = time.monotonic() + timeout_ms / 1000
        while not found.pending:
            if self.stop.is_set():
                return None
            left = int((deadline - time.monotonic()) * 1000)
            if left <= 0:
                break
            found.pending.extend(found.reader.read(min(left, POLL_SLICE_MS)))
        return found.pending

    def close_object(self, caller, handle: int) -> int:
        with self._lock:
            found = self._objects.pop(handle & 0xFFFFFFFFFFFFFFFF, None)
        if found is None:
            return -errno.EINVAL
        found.close()
        return 0

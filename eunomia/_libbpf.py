"""The libbpf binding: the only module that uses ctypes.

libbpf 1.x returns NULL or a negative error and sets errno; `check_ptr`/`check_int` turn
that into our exceptions with the errno and what was being done. libbpf's own messages go
to the `eunomia.libbpf` logger; the ones printed while a call runs can be captured (the
verifier log of a rejected program arrives this way).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import struct

from .errors import LibbpfError, LoadError
from .logs import DEBUG, INFO, WARNING, Logger, in_use

# libbpf's levels (warn, info, debug) as logging's
LEVELS = {0: WARNING, 1: INFO}
log = Logger("eunomia.libbpf")


def _listened() -> bool:
    """Whether libbpf's warnings may reach anyone: not while nobody has imported
    logging (no handler is configured anywhere), nor when its logger drops them. Keeps
    logging's import (~5 ms) off a run's start, before the load."""
    return in_use() and log.isEnabledFor(WARNING)


c_void_p, c_char_p, c_int, c_uint, c_size_t = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                               ctypes.c_uint, ctypes.c_size_t)
c_bool, c_u32, c_u64 = ctypes.c_bool, ctypes.c_uint32, ctypes.c_uint64

PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241, "riscv64": 241, "ppc64le": 319,
                   "s390x": 331}


class ObjectOpenOpts(ctypes.Structure):
    """struct bpf_object_open_opts of libbpf 1.1 (fields we use come first)."""
    _fields_ = [("sz", c_size_t), ("object_name", c_char_p), ("relaxed_maps", c_bool),
                ("pin_root_path", c_char_p), ("_attach_prog_fd", c_u32),
                ("kconfig", c_char_p), ("btf_custom_path", c_char_p),
                ("kernel_log_buf", c_char_p), ("kernel_log_size", c_size_t),
                ("kernel_log_level", c_u32)]


class UprobeOpts(ctypes.Structure):
    """struct bpf_uprobe_opts of libbpf 1.1."""
    _fields_ = [("sz", c_size_t), ("ref_ctr_offset", c_size_t), ("bpf_cookie", c_u64),
                ("retprobe", c_bool), ("func_name", c_char_p)]


class TcHook(ctypes.Structure):
    _fields_ = [("sz", c_size_t), ("ifindex", c_int), ("attach_point", c_int),
                ("parent", c_u32)]


class TcOpts(ctypes.Structure):
    _fields_ = [("sz", c_size_t), ("prog_fd", c_int), ("flags", c_u32), ("prog_id", c_u32),
                ("handle", c_u32), ("priority", c_u32)]


class BatchOpts(ctypes.Structure):
    """struct bpf_map_batch_opts."""
    _fields_ = [("sz", c_size_t), ("elem_flags", c_u64), ("flags", c_u64)]


class ProgLoadOpts(ctypes.Structure):
    """struct bpf_prog_load_opts of libbpf 1.1."""
    _fields_ = [("sz", c_size_t), ("attempts", c_int), ("expected_attach_type", c_int),
                ("prog_btf_fd", c_u32), ("prog_flags", c_u32), ("prog_ifindex", c_u32),
                ("kern_version", c_u32), ("attach_btf_id", c_u32), ("attach_prog_fd", c_u32),
                ("attach_btf_obj_fd", c_u32), ("fd_array", c_void_p),
                ("func_info", c_void_p), ("func_info_cnt", c_u32),
                ("func_info_rec_size", c_u32), ("line_info", c_void_p),
                ("line_info_cnt", c_u32), ("line_info_rec_size", c_u32),
                ("log_level", c_u32), ("log_size", c_u32), ("log_buf", c_char_p)]


PROG_INFO_SIZE = 232          # sizeof(struct bpf_prog_info) in the 6.x UAPI (libbpf 1.1)

PRINT_FN = ctypes.CFUNCTYPE(c_int, c_int, c_char_p, c_void_p)

_PROTOTYPES = {
    # objects
    "bpf_object__open_mem": (c_void_p, [c_void_p, c_size_t, ctypes.POINTER(ObjectOpenOpts)]),
    "bpf_object__load": (c_int, [c_void_p]),
    "bpf_object__close": (None, [c_void_p]),
    "bpf_object__next_program": (c_void_p, [c_void_p, c_void_p]),
    "bpf_object__next_map": (c_void_p, [c_void_p, c_void_p]),
    "bpf_object__btf": (c_void_p, [c_void_p]),
    "btf__raw_data": (c_void_p, [c_void_p, ctypes.POINTER(c_u32)]),
    # programs
    "bpf_program__name": (c_char_p, [c_void_p]),
    "bpf_program__section_name": (c_char_p, [c_void_p]),
    "bpf_program__set_autoload": (c_int, [c_void_p, c_bool]),
    "bpf_program__autoload": (c_bool, [c_void_p]),
    "bpf_program__fd": (c_int, [c_void_p]),
    "bpf_program__type": (c_int, [c_void_p]),
    "bpf_program__attach": (c_void_p, [c_void_p]),
    "bpf_program__attach_uprobe_opts": (c_void_p, [c_void_p, c_int, c_char_p, c_size_t,
                                                   ctypes.POINTER(UprobeOpts)]),
    "bpf_program__attach_xdp": (c_void_p, [c_void_p, c_int]),
    "bpf_program__attach_cgroup": (c_void_p, [c_void_p, c_int]),
    "bpf_program__attach_tracepoint": (c_void_p, [c_void_p, c_char_p, c_char_p]),
    "bpf_program__attach_kprobe": (c_void_p, [c_void_p, c_bool, c_char_p]),
    "bpf_program__attach_perf_event": (c_void_p, [c_void_p, c_int]),
    "bpf_tc_hook_create": (c_int, [ctypes.POINTER(TcHook)]),
    "bpf_tc_hook_destroy": (c_int, [ctypes.POINTER(TcHook)]),
    "bpf_tc_attach": (c_int, [ctypes.POINTER(TcHook), ctypes.POINTER(TcOpts)]),
    "bpf_tc_detach": (c_int, [ctypes.POINTER(TcHook), ctypes.POINTER(TcOpts)]),
    "bpf_link__destroy": (c_int, [c_void_p]),
    "bpf_link_create": (c_int, [c_int, c_int, c_int, c_void_p]),
    "bpf_link__fd": (c_int, [c_void_p]),
    # maps
    "bpf_map__name": (c_char_p, [c_void_p]),
    "bpf_map__type": (c_int, [c_void_p]),
    "bpf_map__fd": (c_int, [c_void_p]),
    "bpf_map__key_size": (c_u32, [c_void_p]),
    "bpf_map__value_size": (c_u32, [c_void_p]),
    "bpf_map__max_entries": (c_u32, [c_void_p]),
    "bpf_map__set_max_entries": (c_int, [c_void_p, c_u32]),
    "bpf_map__initial_value": (c_void_p, [c_void_p, ctypes.POINTER(c_size_t)]),
    "bpf_map__btf_key_type_id": (c_u32, [c_void_p]),
    "bpf_map__btf_value_type_id": (c_u32, [c_void_p]),
    "bpf_map_lookup_elem": (c_int, [c_int, c_void_p, c_void_p]),
    "bpf_map_lookup_elem_flags": (c_int, [c_int, c_void_p, c_void_p, c_u64]),
    "bpf_map_update_elem": (c_int, [c_int, c_void_p, c_void_p, c_u64]),
    "bpf_map_delete_elem": (c_int, [c_int, c_void_p]),
    "bpf_map_get_next_key": (c_int, [c_int, c_void_p, c_void_p]),
    "bpf_map_lookup_and_delete_elem": (c_int, [c_int, c_void_p, c_void_p]),
    "bpf_map_lookup_batch": (c_int, [c_int, c_void_p, c_void_p, c_void_p, c_void_p,
                                     ctypes.POINTER(c_u32), ctypes.POINTER(BatchOpts)]),
    "bpf_map_lookup_and_delete_batch": (c_int, [c_int, c_void_p, c_void_p, c_void_p,
                                                c_void_p, ctypes.POINTER(c_u32),
                                                ctypes.POINTER(BatchOpts)]),
    "bpf_map_delete_batch": (c_int, [c_int, c_void_p, ctypes.POINTER(c_u32),
                                     ctypes.POINTER(BatchOpts)]),
    "bpf_map_update_batch": (c_int, [c_int, c_void_p, c_void_p, ctypes.POINTER(c_u32),
                                     ctypes.POINTER(BatchOpts)]),
    "bpf_obj_get": (c_int, [c_char_p]),
    "libbpf_find_vmlinux_btf_id": (c_int, [c_char_p, c_int]),
    "bpf_prog_load": (c_int, [c_int, c_char_p, c_char_p, c_void_p, c_size_t,
                              ctypes.POINTER(ProgLoadOpts)]),
    "bpf_map_create": (c_int, [c_int, c_char_p, c_u32, c_u32, c_u32, c_void_p]),
    "bpf_obj_pin": (c_int, [c_int, c_char_p]),
    "bpf_btf_get_fd_by_id": (c_int, [c_u32]),
    "user_ring_buffer__new": (c_void_p, [c_int, c_void_p]),
    "user_ring_buffer__reserve": (c_void_p, [c_void_p, c_u32]),
    "user_ring_buffer__submit": (None, [c_void_p, c_void_p]),
    "user_ring_buffer__discard": (None, [c_void_p, c_void_p]),
    "user_ring_buffer__free": (None, [c_void_p]),
    "bpf_map__set_pin_path": (c_int, [c_void_p, c_char_p]),
    "bpf_map__pin_path": (c_char_p, [c_void_p]),
    "bpf_map__is_pinned": (c_bool, [c_void_p]),
    "bpf_map__pin": (c_int, [c_void_p, c_char_p]),
    "bpf_map__unpin": (c_int, [c_void_p, c_char_p]),
    # misc (libbpf 1.1 has bpf_obj_get_info_by_fd; bpf_prog_get_info_by_fd came in 1.2)
    "bpf_obj_get_info_by_fd": (c_int, [c_int, c_void_p, ctypes.POINTER(c_u32)]),
    "bpf_enable_stats": (c_int, [c_int]),
    "libbpf_probe_bpf_prog_type": (c_int, [c_int, c_void_p]),
    "libbpf_probe_bpf_map_type": (c_int, [c_int, c_void_p]),
    "libbpf_probe_bpf_helper": (c_int, [c_int, c_int, c_void_p]),
    "libbpf_set_print": (c_void_p, [PRINT_FN]),
}


class _Functions:
    """libbpf's functions, each declared (restype, argtypes) when first asked for:
    declaring all ~150 up front took 2 ms of every start, before the first load."""

    def __init__(self, lib: ctypes.CDLL):
        self._lib = lib

    def __getattr__(self, name: str):
        function = getattr(self._lib, name)     # AttributeError: this libbpf lacks it
        if name in _PROTOTYPES:
            function.restype, function.argtypes = _PROTOTYPES[name]
        setattr(self, name, function)           # found directly from now on
        return function


class _Lib:
    """libbpf.so.1 and libc, loaded on first use."""

    def __init__(self):
        self._bpf = None
        self._printer = None
        self._captures: list[list[str]] = []

    @property
    def bpf(self):
        if self._bpf is None:
            try:        # the soname first: find_library may run ldconfig or gcc
                lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
            except OSError:
                from ctypes.util import find_library
                path = find_library("bpf")
                try:
                    lib = ctypes.CDLL(path, use_errno=True) if path else None
                except OSError:
                    lib = None
                if lib is None:
                    raise LoadError("libbpf.so.1 not found: install libbpf1 "
                                    "(apt-get install libbpf1)") from None
            self._bpf = _Functions(lib)
            self._install_printer()
        return self._bpf

    def _install_printer(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        vsnprintf = libc.vsnprintf
        vsnprintf.argtypes = [c_char_p, c_size_t, c_char_p, c_void_p]
        buf = ctypes.create_string_buffer(8192)

        def printer(level, fmt, args):
            logged = in_use()       # or nobody can be listening
            if not (logged or self._captures):
                return 0
            # va_list is passed on as-is (an array type on x86_64: a pointer here).
            vsnprintf(buf, len(buf), fmt, args)
            text = buf.value.decode("utf-8", "replace")
            for capture in self._captures:
                capture.append(text)
            if logged:
                log.log(LEVELS.get(level, DEBUG), "%s", text.rstrip("\n"))
            return 0
        self._printer = PRINT_FN(printer)          # kept alive as long as libbpf uses it
        self._bpf.libbpf_set_print(self._printer)

    def version(self) -> tuple[int, int]:
        """(major, minor) of the libbpf loaded (libbpf_major_version, 0.6+)."""
        bpf = self.bpf
        try:
            major, minor = bpf.libbpf_major_version, bpf.libbpf_minor_version
        except AttributeError:
            return (0, 0)
        major.restype = minor.restype = c_u32
        return (major(), minor())

    def offers(self, symbol: str) -> bool:
        """Whether the libbpf loaded exports `symbol` (newer libbpfs add calls: tcx and
        uprobe-multi links came with 1.3); the code works without them."""
        try:
            getattr(self.bpf, symbol)
            return True
        except AttributeError:
            return False

    @contextlib.contextmanager
    def unheard(self):
        """Turns libbpf's print callback off inside the block when nobody would see its
        messages: the eunomia.libbpf logger drops warnings (as ecli's does without -v) or
        nobody imported logging, and nothing captures them. Each message runs the
        callback in Python, about 70 in a small package's load (~4 ms), each waiting for
        the GIL while another thread holds it. Yields whether they were off: a caller
        that needs them after a failure (the verifier's log) does the work again
        without this."""
        if self._captures or _listened():
            yield False
            return
        bpf = self.bpf
        bpf.libbpf_set_print(PRINT_FN())        # NULL: libbpf prints nothing
        try:
            yield True
        finally:
            bpf.libbpf_set_print(self._printer)

    @contextlib.contextmanager
    def capture(self):
        """Collects libbpf's messages printed inside the block."""
        lines: list[str] = []
        self._captures.append(lines)
        try:
            yield lines
        finally:     # by identity: equal (empty) lists of other threads stay
            self._captures[:] = [c for c in self._captures if c is not lines]


lib = _Lib()


def errno_now() -> int:
    return ctypes.get_errno()


def check_ptr(result, what: str, error=LibbpfError, **extra):
    """NULL from libbpf -> `error(what, errno)`."""
    if not result:
        raise error(what, errno=errno_now() or None, **extra)
    return result


def check_int(result: int, what: str, error=LibbpfError, **extra) -> int:
    """A negative libbpf return (-errno) -> `error(what, errno)`."""
    if result < 0:
        raise error(what, errno=-result, **extra)
    return result


def raw_buffer(data: bytes):
    return ctypes.create_string_buffer(bytes(data), len(data))


def buffer_at(address: int, size: int) -> memoryview:
    """A writable view of `size` bytes of libbpf-owned memory."""
    return memoryview((ctypes.c_char * size).from_address(address)).cast("B")


def string_buffer(size: int):
    return ctypes.create_string_buffer(size)


def address_of(buf) -> int:
    return ctypes.addressof(buf)


def perf_event_open(attr: bytes, pid: int, cpu: int, group_fd: int = -1,
                    flags: int = 8) -> int:
    """perf_event_open(2) with PERF_FLAG_FD_CLOEXEC; OSError on failure."""
    number = PERF_EVENT_OPEN.get(os.uname().machine)
    if number is None:
        raise LibbpfError(f"perf_event_open: unknown syscall number on {os.uname().machine}")
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(attr, len(attr))
    fd = libc.syscall(c_int(number), buf, c_int(pid), c_int(cpu), c_int(group_fd),
                      ctypes.c_ulong(flags))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return fd


def uprobe_opts(func_name: str | None, retprobe: bool) -> UprobeOpts:
    opts = UprobeOpts(sz=ctypes.sizeof(UprobeOpts), retprobe=retprobe)
    opts.func_name = func_name.encode() if func_name else None
    return opts


def open_opts(name: str | None) -> ObjectOpenOpts:
    opts = ObjectOpenOpts(sz=ctypes.sizeof(ObjectOpenOpts))
    opts.object_name = c_name(name, "object name") if name else None
    return opts


def c_name(name: str, what: str) -> bytes:
    """`name` as the UTF-8 bytes a C call takes; LoadError for text C cannot hold (a
    lone surrogate, a NUL)."""
    try:
        raw = name.encode()
    except UnicodeEncodeError:
        raise LoadError(f"{what} {name!r} is not valid UTF-8 text") from None
    if b"\0" in raw:
        raise LoadError(f"{what} {name!r} contains a NUL byte")
    return raw


def py_name(raw: bytes | None, what: str) -> str:
    """A name libbpf read from an object (program, section, map) as text; LoadError,
    naming it, when the object holds bytes that are not UTF-8."""
    try:
        return (raw or b"").decode()
    except UnicodeDecodeError:
        raise LoadError(f"the object's {what} {raw!r} is not valid UTF-8") from None


def tc_hook(ifindex: int, ingress: bool, egress: bool = False) -> TcHook:
    """A bpf_tc_hook; BPF_TC_INGRESS = 1, BPF_TC_EGRESS = 2 (both: the whole qdisc)."""
    point = (1 if ingress else 2) | (2 if egress else 0)
    return TcHook(sz=ctypes.sizeof(TcHook), ifindex=ifindex, attach_point=point)


def tc_opts(prog_fd: int = 0) -> TcOpts:
    return TcOpts(sz=ctypes.sizeof(TcOpts), prog_fd=prog_fd)


def batch_opts() -> BatchOpts:
    return BatchOpts(sz=ctypes.sizeof(BatchOpts))


def u32_in(value: int):
    return c_u32(value)


def prog_info(fd: int) -> bytes:
    """The raw struct bpf_prog_info of a program fd (bpf_obj_get_info_by_fd)."""
    info = ctypes.create_string_buffer(PROG_INFO_SIZE)
    length = c_u32(PROG_INFO_SIZE)
    result = lib.bpf.bpf_obj_get_info_by_fd(fd, info, ctypes.byref(length))
    check_int(result, f"get the info of BPF program fd {fd}")
    return info.raw[:length.value]


MAP_INFO = struct.Struct("<6I16s2I2Q4IQ")   # struct bpf_map_info (88 bytes)
MAP_INFO_FIELDS = ("type", "id", "key_size", "value_size", "max_entries", "map_flags",
                   "name", "ifindex", "btf_vmlinux_value_type_id", "netns_dev", "netns_ino",
                   "btf_id", "btf_key_type_id", "btf_value_type_id", "btf_vmlinux_id",
                   "map_extra")


def map_info(fd: int) -> dict:
    """struct bpf_map_info of a map fd, as a dict (name decoded)."""
    info = ctypes.create_string_buffer(MAP_INFO.size)
    length = c_u32(MAP_INFO.size)
    result = lib.bpf.bpf_obj_get_info_by_fd(fd, info, ctypes.byref(length))
    check_int(result, f"get the info of BPF map fd {fd}")
    fields = dict(zip(MAP_INFO_FIELDS, MAP_INFO.unpack(info.raw)))
    fields["name"] = fields["name"].partition(b"\0")[0].decode()
    return fields


def btf_raw_by_id(btf_id: int) -> bytes:
    """The raw BTF blob the kernel holds under `btf_id` (struct bpf_btf_info, twice:
    once for the size, once for the data)."""
    fd = lib.bpf.bpf_btf_get_fd_by_id(btf_id)
    check_int(fd, f"open BTF object {btf_id}")
    try:
        info = struct.pack("<QIIQII", 0, 0, 0, 0, 0, 0)
        sized = ctypes.create_string_buffer(info, len(info))
        length = c_u32(len(info))
        check_int(lib.bpf.bpf_obj_get_info_by_fd(fd, sized, ctypes.byref(length)),
                  f"get the size of BTF object {btf_id}")
        size = struct.unpack_from("<I", sized.raw, 8)[0]
        data = ctypes.create_string_buffer(size)
        filled = ctypes.create_string_buffer(
            struct.pack("<QIIQII", ctypes.addressof(data), size, 0, 0, 0, 0), len(info))
        length = c_u32(len(info))
        check_int(lib.bpf.bpf_obj_get_info_by_fd(fd, filled, ctypes.byref(length)),
                  f"read BTF object {btf_id}")
        return data.raw[:size]
    finally:
        os.close(fd)


def vmlinux_btf_id(name: str, attach_type: int) -> int:
    """The kernel BTF id of the function `name` as a program of `attach_type` would
    attach to it, or -errno. libbpf reads the kernel's BTF in C and frees it: parsing
    it in Python would keep about 100 MB in a long-running process."""
    found = lib.bpf.libbpf_find_vmlinux_btf_id(name.encode(), attach_type)
    return found if found >= 0 else -(errno_now() or -found)


def prog_load(prog_type: int, insns: bytes, expected_attach_type: int = 0,
              attach_btf_id: int = 0) -> int:
    """bpf_prog_load of raw instructions (feature probes); the fd, or -errno."""
    opts = ProgLoadOpts(sz=ctypes.sizeof(ProgLoadOpts),
                        expected_attach_type=expected_attach_type,
                        attach_btf_id=attach_btf_id)
    code = ctypes.create_string_buffer(insns, len(insns))
    fd = lib.bpf.bpf_prog_load(prog_type, b"eunomia_probe", b"GPL", code, len(insns) // 8,
                               ctypes.byref(opts))
    return fd if fd >= 0 else -(errno_now() or -fd)


def map_create(map_type: int, key_size: int, value_size: int, max_entries: int) -> int:
    """bpf_map_create without options; the fd, or -errno."""
    fd = lib.bpf.bpf_map_create(map_type, b"eunomia_probe", key_size, value_size,
                                max_entries, None)
    return fd if fd >= 0 else -(errno_now() or -fd)


def copy_buffer(dest, src) -> None:
    ctypes.memmove(dest, src, min(len(dest), len(src)))


def byref(obj):
    return ctypes.byref(obj)


def u32_out():
    return c_u32()


def size_out():
    return c_size_t()

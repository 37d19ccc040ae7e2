"""BpfObject: an ELF object opened by libbpf, its programs and maps, loaded and closed."""

from __future__ import annotations

from .. import _libbpf
from ..errors import LoadError
from . import failures
from .maps import BpfMap
from .program import BpfProgram


class BpfObject:
    """`BpfObject.open(elf_bytes)`, set initial values and autoload, `load()`, `close()`."""

    def __init__(self, handle: int, name: str, data: object):
        # owned only once every program and map is read: a failure before that leaves
        # the handle to open(), which closes it (exactly once: __del__ then sees None)
        self._handle = None
        self._data = data             # libbpf may refer to the buffer until close
        self.name = name
        self.programs: dict[str, BpfProgram] = {}
        self.maps: dict[str, BpfMap] = {}
        self._btf = None
        bpf = _libbpf.lib.bpf
        prog = bpf.bpf_object__next_program(handle, None)
        while prog:
            program = BpfProgram(prog)
            self.programs[program.name] = program
            prog = bpf.bpf_object__next_program(handle, prog)
        map_ = bpf.bpf_object__next_map(handle, None)
        while map_:
            bpf_map = BpfMap(map_)
            self.maps[bpf_map.name] = bpf_map
            map_ = bpf.bpf_object__next_map(handle, map_)
        # libbpf names data-section maps "<obj>.rodata"; find them by section too.
        for bpf_map in list(self.maps.values()):
            for section in (".rodata", ".data", ".bss", ".kconfig"):
                if bpf_map.name.endswith(section) and section not in self.maps:
                    self.maps[section] = bpf_map
        self._handle = handle

    @classmethod
    def open(cls, elf: bytes, name: str | None = None,
             btf_custom_path: str | None = None) -> BpfObject:
        """Opens `elf`; `btf_custom_path` is the kernel BTF CO-RE relocates against (for
        kernels without /sys/kernel/btf/vmlinux); it must exist until load()."""
        data = _libbpf.raw_buffer(elf)
        opts = _libbpf.open_opts(name)
        if btf_custom_path:
            opts.btf_custom_path = btf_custom_path.encode()
        with _libbpf.lib.capture():
            handle = _libbpf.lib.bpf.bpf_object__open_mem(data, len(elf), _libbpf.byref(opts))
        _libbpf.check_ptr(handle, f"open BPF object '{name or 'object'}'", LoadError)
        try:
            return cls(handle, name or "", data)
        except BaseException:
            _libbpf.lib.bpf.bpf_object__close(handle)
            raise

    @property
    def btf(self):
        """The object's BTF as libbpf fixed it up at open (DATASEC sizes, offsets)."""
        if self._btf is None:
            from ..btf import BTF
            size = _libbpf.u32_out()
            btf_handle = _libbpf.lib.bpf.bpf_object__btf(self._handle)
            _libbpf.check_ptr(btf_handle, "the object has no BTF", LoadError)
            address = _libbpf.lib.bpf.btf__raw_data(btf_handle, _libbpf.byref(size))
            _libbpf.check_ptr(address, "read the object's BTF", LoadError)
            self._btf = BTF.parse(bytes(_libbpf.buffer_at(address, size.value)))
        return self._btf

    def load(self) -> None:
        with _libbpf.lib.capture() as messages:
            result = _libbpf.lib.bpf.bpf_object__load(self._handle)
        if result < 0:
            program = failures.failed_program(messages)
            section = self.programs[program].section_name if program in self.programs else ""
            raise failures.load_failure(-result, program, section, messages)

    def close(self) -> None:
        """Detaches every link still attached, then frees programs and maps; idempotent."""
        handle, self._handle = self._handle, None
        if handle:
            try:
                for program in self.programs.values():
                    program.detach_all()
            finally:
                _libbpf.lib.bpf.bpf_object__close(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        if getattr(self, "_handle", None):
            self.close()

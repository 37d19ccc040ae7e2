"""BpfMap: a loaded map, with raw-bytes operations."""

from __future__ import annotations

import errno as errno_mod
from collections.abc import Iterator

from .. import _libbpf
from ..errors import MapError

MAP_TYPES = {1: "hash", 2: "array", 3: "prog_array", 4: "perf_event_array",
             5: "percpu_hash", 6: "percpu_array", 7: "stack_trace", 8: "cgroup_array",
             9: "lru_hash", 10: "lru_percpu_hash", 11: "lpm_trie", 12: "array_of_maps",
             13: "hash_of_maps", 14: "devmap", 15: "sockmap", 16: "cpumap", 17: "xskmap",
             18: "sockhash", 19: "cgroup_storage", 20: "reuseport_sockarray",
             21: "percpu_cgroup_storage", 22: "queue", 23: "stack", 24: "sk_storage",
             25: "devmap_hash", 26: "struct_ops", 27: "ringbuf", 28: "inode_storage",
             29: "task_storage", 30: "bloom_filter", 31: "user_ringbuf",
             32: "cgrp_storage"}


class BpfMap:
    """One map of an object; key and value are bytes of `key_size` / `value_size`."""

    def __init__(self, handle: int):
        bpf = _libbpf.lib.bpf
        self._handle = handle
        self.name = bpf.bpf_map__name(handle).decode()
        self.type = bpf.bpf_map__type(handle)
        self.type_name = MAP_TYPES.get(self.type, str(self.type))
        self.key_size = bpf.bpf_map__key_size(handle)
        self.value_size = bpf.bpf_map__value_size(handle)
        self.btf_key_type_id = bpf.bpf_map__btf_key_type_id(handle)
        self.btf_value_type_id = bpf.bpf_map__btf_value_type_id(handle)

    @property
    def fd(self) -> int:
        return _libbpf.lib.bpf.bpf_map__fd(self._handle)

    @property
    def max_entries(self) -> int:
        return _libbpf.lib.bpf.bpf_map__max_entries(self._handle)

    @property
    def initial_value(self) -> memoryview | None:
        """A writable view of a data section's contents (before load), or None."""
        size = _libbpf.size_out()
        address = _libbpf.lib.bpf.bpf_map__initial_value(self._handle, _libbpf.byref(size))
        if not address:
            return None
        return _libbpf.buffer_at(address, size.value)

    def _key(self, key: bytes):
        if len(key) != self.key_size:
            raise MapError(f"map '{self.name}': key is {len(key)} bytes, expected "
                           f"{self.key_size}")
        return _libbpf.raw_buffer(key)

    def lookup(self, key: bytes) -> bytes | None:
        value = _libbpf.string_buffer(max(self.value_size, 1))
        if _libbpf.lib.bpf.bpf_map_lookup_elem(self.fd, self._key(key), value) < 0:
            err = _libbpf.errno_now()
            if err == errno_mod.ENOENT:
                return None
            raise MapError(f"look up a key in map '{self.name}'", errno=err)
        return value.raw[:self.value_size]

    def update(self, key: bytes, value: bytes, flags: int = 0) -> None:
        if len(value) != self.value_size:
            raise MapError(f"map '{self.name}': value is {len(value)} bytes, expected "
                           f"{self.value_size}")
        if _libbpf.lib.bpf.bpf_map_update_elem(self.fd, self._key(key),
                                               _libbpf.raw_buffer(value), flags) < 0:
            raise MapError(f"update map '{self.name}'", errno=_libbpf.errno_now())

    def delete(self, key: bytes) -> bool:
        if _libbpf.lib.bpf.bpf_map_delete_elem(self.fd, self._key(key)) < 0:
            err = _libbpf.errno_now()
            if err == errno_mod.ENOENT:
                return False
            raise MapError(f"delete from map '{self.name}'", errno=err)
        return True

    def keys(self) -> Iterator[bytes]:
        bpf = _libbpf.lib.bpf
        current = None
        following = _libbpf.string_buffer(max(self.key_size, 1))
        while True:
            if bpf.bpf_map_get_next_key(self.fd, current, following) < 0:
                err = _libbpf.errno_now()
                if err == errno_mod.ENOENT:
                    return
                raise MapError(f"iterate map '{self.name}'", errno=err)
            key = following.raw[:self.key_size]
            yield key
            current = _libbpf.raw_buffer(key)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        for key in self.keys():
            value = self.lookup(key)
            if value is not None:
                yield key, value

    def __repr__(self) -> str:
        return f"<BpfMap {self.name} {self.type_name}>"

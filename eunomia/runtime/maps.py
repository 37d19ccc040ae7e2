"""BpfMap: a loaded map, with raw-bytes operations."""

from __future__ import annotations

import errno as errno_mod
import itertools
import os
from collections.abc import Iterator

from .. import _libbpf
from ..defaults import NOT_SUPPORTED_ERRNOS
from ..errors import MapError
from ..kinds import PERCPU_MAP_TYPES, map_type_name
from .cpus import possible_cpu_count

# Map types without batch operations report one of these; we then walk the keys.
_NO_BATCH = NOT_SUPPORTED_ERRNOS


class BpfMap:
    """One map of an object; key and value are bytes of `key_size` / `value_size`."""

    def __init__(self, handle: int):
        bpf = _libbpf.lib.bpf
        self._handle = handle
        self._fd: int | None = None          # set for maps opened by fd (pinned maps)
        self._info: dict | None = None
        self.name = _libbpf.py_name(bpf.bpf_map__name(handle), "map name")
        self.type = bpf.bpf_map__type(handle)
        self.type_name = map_type_name(self.type)
        self.key_size = bpf.bpf_map__key_size(handle)
        self.value_size = bpf.bpf_map__value_size(handle)
        self.btf_key_type_id = bpf.bpf_map__btf_key_type_id(handle)
        self.btf_value_type_id = bpf.bpf_map__btf_value_type_id(handle)

    @classmethod
    def from_fd(cls, fd: int) -> BpfMap:
        """A map known only by its fd (e.g. opened from bpffs); close() closes the fd.
        `info` holds the kernel's struct bpf_map_info (btf_id, type ids, ...)."""
        info = _libbpf.map_info(fd)
        self = cls.__new__(cls)
        self._handle, self._fd, self._info = None, fd, info
        self.name, self.type = info["name"], info["type"]
        self.type_name = map_type_name(self.type)
        self.key_size, self.value_size = info["key_size"], info["value_size"]
        self.btf_key_type_id = info["btf_key_type_id"]
        self.btf_value_type_id = info["btf_value_type_id"]
        return self

    @classmethod
    def open_pinned(cls, path: str) -> BpfMap:
        fd = _libbpf.lib.bpf.bpf_obj_get(str(path).encode())
        if fd < 0:
            raise MapError(f"open the pinned map at {path} (is it a map pinned in bpffs?)",
                           errno=_libbpf.errno_now())
        try:
            return cls.from_fd(fd)
        except BaseException:
            os.close(fd)
            raise

    @property
    def info(self) -> dict:
        """The kernel's struct bpf_map_info of this (loaded) map."""
        if self._info is None:
            return _libbpf.map_info(self.fd)
        return self._info

    def close(self) -> None:
        """Closes an fd-opened map; maps of an object close with their object."""
        fd, self._fd = self._fd, None
        if fd is not None and fd >= 0:
            os.close(fd)

    @property
    def fd(self) -> int:
        if self._handle is None:
            if self._fd is None:
                raise MapError(f"map '{self.name}' is closed")
            return self._fd
        return _libbpf.lib.bpf.bpf_map__fd(self._handle)

    @property
    def max_entries(self) -> int:
        if self._handle is None:
            return self.info["max_entries"]
        return _libbpf.lib.bpf.bpf_map__max_entries(self._handle)

    @max_entries.setter
    def max_entries(self, count: int) -> None:
        """Resizes the map; only before the object is loaded."""
        result = _libbpf.lib.bpf.bpf_map__set_max_entries(self._handle, count)
        _libbpf.check_int(result, f"set max_entries of map '{self.name}' to {count} (only "
                          "possible before load)", MapError)

    @property
    def value_stride(self) -> int:
        """Bytes one lookup returns: per-CPU maps give one 8-aligned slot per possible CPU."""
        if self.type in PERCPU_MAP_TYPES:
            return ((self.value_size + 7) & ~7) * possible_cpu_count()
        return self.value_size

    @property
    def initial_value(self) -> memoryview | None:
        """A writable view of a data section's contents (before load), or None."""
        size = _libbpf.size_out()
        address = _libbpf.lib.bpf.bpf_map__initial_value(self._handle, _libbpf.byref(size))
        if not address:
            return None
        return _libbpf.buffer_at(address, size.value)

    def _key(self, key: bytes | None):
        if key is None and self.key_size == 0:
            return None                     # queue/stack maps take no key
        if key is None or len(key) != self.key_size:
            raise MapError(f"map '{self.name}': key is {len(key or b'')} bytes, expected "
                           f"{self.key_size}")
        return _libbpf.raw_buffer(key)

    def lookup(self, key: bytes | None) -> bytes | None:
        """The value at `key` (`value_stride` bytes), or None when the key is absent."""
        value = _libbpf.string_buffer(max(self.value_stride, 1))
        if _libbpf.lib.bpf.bpf_map_lookup_elem(self.fd, self._key(key), value) < 0:
            err = _libbpf.errno_now()
            if err == errno_mod.ENOENT:
                return None
            raise MapError(f"look up a key in map '{self.name}'", errno=err)
        return value.raw[:self.value_stride]

    def lookup_and_delete(self, key: bytes | None = None) -> bytes | None:
        """Removes and returns the value at `key` (queue/stack maps: key None, pops)."""
        value = _libbpf.string_buffer(max(self.value_stride, 1))
        raw_key = None if key is None else self._key(key)
        if _libbpf.lib.bpf.bpf_map_lookup_and_delete_elem(self.fd, raw_key, value) < 0:
            err = _libbpf.errno_now()
            if err == errno_mod.ENOENT:
                return None
            raise MapError(f"look up and delete in map '{self.name}'", errno=err)
        return value.raw[:self.value_stride]

    def lookup_batch(self, chunk: int = 256,
                     delete: bool = False) -> list[tuple[bytes, bytes]]:
        """Every (key, value) with BPF_MAP_LOOKUP_BATCH (or LOOKUP_AND_DELETE_BATCH when
        `delete`), `chunk` entries per call; map types (or kernels) without batch
        operations fall back to walking the keys."""
        ksize, vsize = self.key_size, self.value_stride
        return [(keys[i * ksize:(i + 1) * ksize], values[i * vsize:(i + 1) * vsize])
                for keys, values, count in self.lookup_batch_blobs(chunk, delete)
                for i in range(count)]

    def lookup_batch_blobs(self, chunk: int = 1024, delete: bool = False,
                           limit: int | None = None) -> list[tuple[bytes, bytes, int]]:
        """lookup_batch as (keys, values, count) blobs, one per kernel call, for callers
        that decode many entries at once rather than slicing each; with `limit`, the
        reading stops once that many entries are in (a view of a huge map)."""
        try:
            return self._lookup_batch(chunk, delete, limit)
        except _NoBatch:
            items = list(itertools.islice(self.items(), limit))
            if delete:
                for key, _ in items:
                    self.delete(key)
            return [(b"".join(k for k, _ in items), b"".join(v for _, v in items),
                     len(items))]

    def _lookup_batch(self, chunk: int, delete: bool,
                      limit: int | None = None) -> list[tuple[bytes, bytes, int]]:
        bpf = _libbpf.lib.bpf
        call = bpf.bpf_map_lookup_and_delete_batch if delete else bpf.bpf_map_lookup_batch
        ksize, vsize = self.key_size, self.value_stride
        keys = _libbpf.string_buffer(ksize * chunk)
        values = _libbpf.string_buffer(vsize * chunk)
        # The batch token is opaque: a bucket index for hashes, a key for arrays.
        token_in = _libbpf.string_buffer(max(ksize, 8))
        token_out = _libbpf.string_buffer(max(ksize, 8))
        opts = _libbpf.batch_opts()
        result: list[tuple[bytes, bytes, int]] = []
        read = 0
        first = True
        while True:
            count = _libbpf.u32_in(chunk)
            rc = call(self.fd, None if first else token_in, token_out, keys, values,
                      _libbpf.byref(count), _libbpf.byref(opts))
            err = _libbpf.errno_now() if rc < 0 else 0
            if rc < 0 and err == errno_mod.ENOSPC and count.value == 0:
                # one hash bucket holds more entries than `chunk`: retry with room
                chunk *= 2
                keys = _libbpf.string_buffer(ksize * chunk)
                values = _libbpf.string_buffer(vsize * chunk)
                continue
            if rc < 0 and err != errno_mod.ENOENT:
                if first and err in _NO_BATCH:
                    raise _NoBatch
                raise MapError(f"batch lookup in map '{self.name}'", errno=err)
            n = count.value
            if n:
                result.append((keys.raw[:n * ksize], values.raw[:n * vsize], n))
                read += n
            if rc < 0 or (limit is not None and read >= limit):   # ENOENT: the last chunk
                return result
            first = False
            _libbpf.copy_buffer(token_in, token_out)

    def delete_batch(self, keys: list[bytes]) -> None:
        """Deletes `keys` with one BPF_MAP_DELETE_BATCH (or one by one without it)."""
        if not keys:
            return
        count = _libbpf.u32_in(len(keys))
        rc = _libbpf.lib.bpf.bpf_map_delete_batch(
            self.fd, _libbpf.raw_buffer(b"".join(self._key(k).raw for k in keys)),
            _libbpf.byref(count), _libbpf.byref(_libbpf.batch_opts()))
        if rc >= 0:
            return
        err = _libbpf.errno_now()
        if err not in _NO_BATCH and err != errno_mod.ENOENT:
            raise MapError(f"batch delete in map '{self.name}'", errno=err)
        for key in keys[count.value:]:      # the kernel stops at the first failure
            self.delete(key)

    def update_batch(self, items: list[tuple[bytes, bytes]], flags: int = 0) -> None:
        """Writes every (key, value) with one BPF_MAP_UPDATE_BATCH (or one by one)."""
        if not items:
            return
        for _, value in items:
            if len(value) != self.value_stride:
                raise MapError(f"map '{self.name}': value is {len(value)} bytes, expected "
                               f"{self.value_stride}")
        count = _libbpf.u32_in(len(items))
        opts = _libbpf.batch_opts()
        opts.elem_flags = flags
        rc = _libbpf.lib.bpf.bpf_map_update_batch(
            self.fd, _libbpf.raw_buffer(b"".join(self._key(k).raw for k, _ in items)),
            _libbpf.raw_buffer(b"".join(v for _, v in items)), _libbpf.byref(count),
            _libbpf.byref(opts))
        if rc >= 0:
            return
        err = _libbpf.errno_now()
        if err not in _NO_BATCH:
            raise MapError(f"batch update of map '{self.name}'", errno=err)
        for key, value in items[count.value:]:
            self.update(key, value, flags)

    def update(self, key: bytes | None, value: bytes, flags: int = 0) -> None:
        if len(value) != self.value_stride:
            raise MapError(f"map '{self.name}': value is {len(value)} bytes, expected "
                           f"{self.value_stride}")
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

    def operate(self, cmd: int, key: bytes, value: bytes | None = None,
                flags: int = 0) -> tuple[int, bytes | None]:
        """One map command as the bpf(2) syscall numbers it (1 lookup, 2 update, 3
        delete, 4 next key), for callers that pass errors on rather than raise (a Wasm
        guest): (0 or -errno, the value or next key read)."""
        bpf = _libbpf.lib.bpf
        out = None
        if cmd == 1:
            out = _libbpf.string_buffer(max(self.value_stride, 1))
            result = bpf.bpf_map_lookup_elem_flags(self.fd, _libbpf.raw_buffer(key), out,
                                                   flags)
        elif cmd == 2:
            result = bpf.bpf_map_update_elem(self.fd, _libbpf.raw_buffer(key),
                                             _libbpf.raw_buffer(value or b""), flags)
        elif cmd == 3:
            result = bpf.bpf_map_delete_elem(self.fd, _libbpf.raw_buffer(key))
        elif cmd == 4:
            out = _libbpf.string_buffer(max(self.key_size, 1))
            result = bpf.bpf_map_get_next_key(self.fd, _libbpf.raw_buffer(key), out)
        else:
            return -errno_mod.EINVAL, None
        if result < 0:
            return -(_libbpf.errno_now() or -result), None
        size = self.value_stride if cmd == 1 else self.key_size
        return 0, (out.raw[:size] if out is not None else None)

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

    @property
    def pin_path(self) -> str | None:
        if self._handle is None:
            return None
        path = _libbpf.lib.bpf.bpf_map__pin_path(self._handle)
        return path.decode() if path else None

    @pin_path.setter
    def pin_path(self, path: str) -> None:
        """Where load() pins the map (or reuses a map pinned there); before load."""
        if self._handle is None:
            raise MapError(f"map '{self.name}' is already in the kernel: use pin(path)")
        result = _libbpf.lib.bpf.bpf_map__set_pin_path(self._handle, path.encode())
        _libbpf.check_int(result, f"set the pin path of map '{self.name}' to {path}", MapError)

    @property
    def pinned(self) -> bool:
        if self._handle is None:
            return False
        return bool(_libbpf.lib.bpf.bpf_map__is_pinned(self._handle))

    def pin(self, path: str | None = None) -> None:
        """Pins the loaded map in bpffs at `path` (or at its pin_path)."""
        if self._handle is None:
            if path is None:
                raise MapError(f"pin map '{self.name}': give a path in bpffs")
            if _libbpf.lib.bpf.bpf_obj_pin(self.fd, str(path).encode()) < 0:
                raise MapError(f"pin map '{self.name}' at {path} (is bpffs mounted on "
                               "/sys/fs/bpf?)", errno=_libbpf.errno_now())
            return
        result = _libbpf.lib.bpf.bpf_map__pin(self._handle, path.encode() if path else None)
        _libbpf.check_int(result, f"pin map '{self.name}' at {path or self.pin_path} "
                          "(is bpffs mounted on /sys/fs/bpf?)", MapError)

    def unpin(self, path: str | None = None) -> None:
        if self._handle is None:
            if path is None:
                raise MapError(f"unpin map '{self.name}': give its path in bpffs")
            try:
                os.unlink(path)
            except OSError as exc:
                raise MapError(f"unpin map '{self.name}' from {path}",
                               errno=exc.errno) from None
            return
        result = _libbpf.lib.bpf.bpf_map__unpin(self._handle, path.encode() if path else None)
        _libbpf.check_int(result, f"unpin map '{self.name}' from {path or self.pin_path}",
                          MapError)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        for key in self.keys():
            value = self.lookup(key)
            if value is not None:
                yield key, value

    def __repr__(self) -> str:
        return f"<BpfMap {self.name} {self.type_name}>"


class _NoBatch(Exception):
    """This map (or kernel) has no batch lookup."""

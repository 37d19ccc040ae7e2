"""Typed maps: a loaded map whose keys and values are Python values, encoded from BTF.

Each map type gets the class that fits what the kernel lets user space do with it; the
common part (encoding, pinning, naming) lives in TypedMap.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

from ..decode.codecs import ArrayCodec
from ..decode.record import collection_paused
from ..errors import DecodeError, MapError
from ..runtime.cpus import possible_cpu_count
from .codecs import codec_for, decode_array


class TypedMap:
    """A map with its key and value codecs; `raw` is the runtime BpfMap (bytes in/out)."""

    def __init__(self, bpf_map, btf, **_context):
        self.raw = bpf_map
        self.name = bpf_map.name
        self.type_name = bpf_map.type_name
        self.key_codec = codec_for(btf, bpf_map.btf_key_type_id, bpf_map.key_size)
        self.value_codec = codec_for(btf, bpf_map.btf_value_type_id, bpf_map.value_size)

    @property
    def max_entries(self) -> int:
        return self.raw.max_entries

    def _encode(self, codec, value, what: str) -> bytes:
        try:
            return codec.encode(value)
        except DecodeError as exc:
            raise MapError(f"map '{self.name}': bad {what} {value!r} for "
                           f"{codec.c_type or 'this map'}: {exc}") from None

    def encode_key(self, key) -> bytes:
        return self._encode(self.key_codec, key, "key")

    def encode_value(self, value) -> bytes:
        return self._encode(self.value_codec, value, "value")

    def decode_key(self, raw: bytes):
        return self.key_codec.decode(raw)

    def decode_value(self, raw: bytes):
        return self.value_codec.decode(raw)

    def decode_keys(self, blob: bytes, count: int) -> list:
        """`count` keys laid end to end (a batch lookup's output)."""
        size = self.raw.key_size
        if type(self).decode_key is TypedMap.decode_key:
            return decode_array(self.key_codec, blob, size, count)
        return [self.decode_key(blob[i * size:(i + 1) * size]) for i in range(count)]

    def decode_values(self, blob: bytes, count: int) -> list:
        size = self.raw.value_stride
        if type(self).decode_value is TypedMap.decode_value:
            return decode_array(self.value_codec, blob, size, count)
        return [self.decode_value(blob[i * size:(i + 1) * size]) for i in range(count)]

    def _batch_items(self, delete: bool = False,
                     limit: int | None = None) -> list[tuple[Any, Any]]:
        items: list[tuple[Any, Any]] = []
        blobs = self.raw.lookup_batch_blobs(delete=delete, limit=limit)
        with collection_paused():       # thousands of tuples and records, no cycles
            for keys, values, count in blobs:
                items.extend(zip(self.decode_keys(keys, count),
                                 self.decode_values(values, count)))
        return items

    def pin(self, path: str) -> None:
        """Pins the map in bpffs at `path`; open it later with eunomia.open_pinned_map."""
        self.raw.pin(str(path))

    def unpin(self, path: str | None = None) -> None:
        self.raw.unpin(None if path is None else str(path))

    def close(self) -> None:
        """Releases a map opened on its own (pinned); a package's maps close with it."""
        self.raw.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} '{self.name}' ({self.type_name})>"


class HashMap(TypedMap, MutableMapping):
    """hash and lru_hash maps: a dict whose entries live in the kernel."""

    def __getitem__(self, key):
        raw = self.raw.lookup(self.encode_key(key))
        if raw is None:
            raise KeyError(key)
        return self.decode_value(raw)

    def __setitem__(self, key, value) -> None:
        self.raw.update(self.encode_key(key), self.encode_value(value))

    def __delitem__(self, key) -> None:
        if not self.raw.delete(self.encode_key(key)):
            raise KeyError(key)

    def __contains__(self, key) -> bool:
        return self.raw.lookup(self.encode_key(key)) is not None

    def __iter__(self) -> Iterator:
        for raw in self.raw.keys():  # noqa: SIM118 (a BpfMap, not a dict)
            yield self.decode_key(raw)

    def __len__(self) -> int:
        return sum(1 for _ in self.raw.keys())  # noqa: SIM118

    def items(self, limit: int | None = None) -> list[tuple[Any, Any]]:
        """Every (key, value) now, read with batch lookups where the kernel has them;
        with `limit`, the first that many the kernel gives (at least: whole batches)."""
        return self._batch_items(limit=limit)

    def values(self) -> list:
        return [value for _, value in self._batch_items()]

    def pop_items(self) -> list[tuple[Any, Any]]:
        """Every (key, value), deleted as read (batch lookup-and-delete where possible):
        what a tool that prints and resets a map each interval wants."""
        return self._batch_items(delete=True)

    def clear(self) -> None:
        self.raw.delete_batch(list(self.raw.keys()))

    def update(self, other=(), /, **kwargs) -> None:
        """Writes many entries at once (one batch update where the kernel has it)."""
        entries = other.items() if hasattr(other, "items") else other
        pairs = [(self.encode_key(k), self.encode_value(v)) for k, v in entries]
        pairs += [(self.encode_key(k), self.encode_value(v)) for k, v in kwargs.items()]
        self.raw.update_batch(pairs)


class ArrayMap(HashMap):
    """array maps: every index 0..max_entries-1 always exists; no delete, clear() zeroes."""

    def __delitem__(self, key) -> None:
        raise MapError(f"map '{self.name}' is an array: its entries cannot be deleted "
                       "(assign a zero value, or clear() to zero them all)")

    def __contains__(self, key) -> bool:
        return isinstance(key, int) and 0 <= key < self.max_entries

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.max_entries))

    def __len__(self) -> int:
        return self.max_entries

    def pop_items(self) -> list[tuple[Any, Any]]:
        """Every (index, value), then every value zeroed."""
        items = self.items()
        self.clear()
        return items

    def clear(self) -> None:
        zero = bytes(self.raw.value_stride)
        self.raw.update_batch([(self.encode_key(i), zero) for i in range(self.max_entries)])


class _PerCpuValues:
    """Per-CPU values: a list with one value per possible CPU, each slot 8-byte aligned."""

    def decode_value(self, raw: bytes) -> list:
        stride = (self.raw.value_size + 7) & ~7
        return [self.value_codec.decode(raw, cpu * stride)
                for cpu in range(len(raw) // stride)]

    def encode_value(self, value) -> bytes:
        """One value for every CPU, or a list with a value per possible CPU (for an array
        value type: a list of lists)."""
        cpus = possible_cpu_count()
        per_cpu = isinstance(value, list) and (
            not isinstance(self.value_codec, ArrayCodec)
            or bool(value) and isinstance(value[0], (list, tuple)))
        if per_cpu and len(value) != cpus:
            raise MapError(f"map '{self.name}': {len(value)} per-CPU values given, this "
                           f"machine has {cpus} possible CPUs")
        stride = (self.raw.value_size + 7) & ~7
        return b"".join(TypedMap.encode_value(self, v).ljust(stride, b"\0")
                        for v in (value if per_cpu else [value] * cpus))

    def sum(self, key):
        """The values of every CPU added up (field by field for a struct value)."""
        values = self[key]
        if values and isinstance(values[0], dict):
            total = dict(values[0])
            for value in values[1:]:
                for name, field in value.items():
                    if isinstance(field, (int, float)) and not isinstance(field, bool):
                        total[name] += field
            return type(values[0])(total)
        return sum(values)


class PerCpuHashMap(_PerCpuValues, HashMap):
    """percpu_hash and lru_percpu_hash: each value is a list, one per possible CPU."""


class PerCpuArrayMap(_PerCpuValues, ArrayMap):
    """percpu_array: each value is a list, one per possible CPU."""

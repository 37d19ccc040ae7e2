"""Maps that carry streams, not entries: ring buffers and perf event arrays (read through
the program's events()), and user ring buffers (user space -> kernel)."""

from __future__ import annotations

from .. import _libbpf
from ..decode import compile_codec
from ..errors import DecodeError, MapError
from .base import TypedMap


class EventMap(TypedMap):
    """ringbuf and perf_event_array: `events(timeout)` yields this map's decoded records."""

    def __init__(self, bpf_map, btf, events=None, **context):
        super().__init__(bpf_map, btf, **context)
        self._events = events

    def events(self, timeout: float | None = None):
        if self._events is None:
            raise MapError(f"map '{self.name}' is not part of an opened package: read it "
                           "through the package's events()")
        return self._events(timeout=timeout, map=self.name)


class UserRingBuffer(TypedMap):
    """user_ringbuf: records user space sends to the kernel, which reads them with
    bpf_user_ringbuf_drain().

        m.push({"pid": 42, "cmd": "stop"})     # encoded as the map's record type
        m.push(b"raw bytes")                   # or sent as they are
    The record type is the struct named by `/// @export` on the map, or `record_type`.
    """

    def __init__(self, bpf_map, btf, record_type: str | None = None, **context):
        super().__init__(bpf_map, btf, **context)
        self._btf = btf
        self._handle = None
        self.record_codec = None
        if record_type and btf is not None:
            self.set_record_type(record_type)

    def set_record_type(self, name: str) -> None:
        """Names the struct that push() encodes dicts and records with."""
        from ..btf import Struct
        type_id, _ = self._btf.find(name, kind=Struct)
        self.record_codec = compile_codec(self._btf, type_id)

    def _ring(self):
        if self._handle is None:
            handle = _libbpf.lib.bpf.user_ring_buffer__new(self.raw.fd, None)
            self._handle = _libbpf.check_ptr(handle, f"open user ring buffer '{self.name}'",
                                             MapError)
        return self._handle

    def push(self, record) -> None:
        """Sends one record; MapError when the ring is full (the kernel has not drained)."""
        if isinstance(record, (bytes, bytearray, memoryview)):
            data = bytes(record)
        elif self.record_codec is None:
            raise MapError(f"map '{self.name}': push bytes, or name the record struct with "
                           "set_record_type() / '/// @export <struct>' on the map")
        else:
            try:
                data = self.record_codec.encode(record)
            except DecodeError as exc:
                raise MapError(f"map '{self.name}': bad record {record!r}: {exc}") from None
        ring = self._ring()
        sample = _libbpf.lib.bpf.user_ring_buffer__reserve(ring, len(data))
        if not sample:
            raise MapError(f"user ring buffer '{self.name}' has no room for "
                           f"{len(data)} bytes", errno=_libbpf.errno_now())
        _libbpf.buffer_at(sample, len(data))[:] = data
        _libbpf.lib.bpf.user_ring_buffer__submit(ring, sample)

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle:
            _libbpf.lib.bpf.user_ring_buffer__free(handle)
        super().close()

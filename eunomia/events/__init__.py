"""Events: the records a package's programs send to user space through ring buffers and
perf event arrays.

- sources: which struct each event map carries (known from the package alone, see
  RecordSpec) and one EventSource per map with its reader, once loaded;
- drainer: raw records out of the rings, with one epoll set, optionally in a thread of
  its own into bounded queues;
- reader: EventReader, which every consumer reads through (LoadedPackage's events(),
  drain() and callbacks, and the run core's Session).
"""

from .drainer import (
    BATCH_BYTES,
    DEFAULT_QUEUE_BYTES,
    RING_KEPT_WHEN_BEHIND,
    BackgroundDrainer,
    EventPoller,
    batch_bytes,
)
from .reader import EventReader
from .sources import (
    EventSource,
    RecordSpec,
    export_type_name,
    open_event_sources,
    record_codec,
    record_specs,
    record_type_id,
    struct_type_id,
    untyped_hint,
)

__all__ = ["BATCH_BYTES", "DEFAULT_QUEUE_BYTES", "RING_KEPT_WHEN_BEHIND",
           "BackgroundDrainer", "EventPoller", "EventReader", "EventSource", "RecordSpec",
           "batch_bytes", "export_type_name", "open_event_sources", "record_codec",
           "record_specs", "record_type_id", "struct_type_id", "untyped_hint"]

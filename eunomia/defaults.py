"""One home for the defaults and shared constants several modules use (as httpx keeps
its own in `_config.py`): a value typed in two places drifts apart."""

from __future__ import annotations

import errno

# ecli server: where it listens, and what a client reaches by default
SERVER_ADDR, SERVER_PORT = "127.0.0.1", 8527
SERVER_ENDPOINT = f"http://{SERVER_ADDR}:{SERVER_PORT}"
# eunomia-exporter (eunomia-bpf's port)
EXPORTER_ADDR, EXPORTER_PORT = "127.0.0.1", 8526
# request bodies the services read at most
BODY_LIMIT = 16 << 20
# a server task's log, in entries (and bytes)
LOG_ENTRIES, LOG_BYTES = 10_000, 4 << 20
# label sets a metric may hold
MAX_SERIES = 10_000

# the kernel-internal "not supported" (ENOTSUPP, not EOPNOTSUPP) some hooks return
ENOTSUPP = 524
# errnos that mean "this kind of operation is not here": batch map calls, tcx links
NOT_SUPPORTED_ERRNOS = frozenset({errno.EINVAL, errno.EOPNOTSUPP, ENOTSUPP})
# the kprobe PMU: where the kernel says it has kprobes
KPROBE_PMU = "/sys/bus/event_source/devices/kprobe"

# a package's run settings when its meta gives none (eunomia-bpf's defaults)
POLL_TIMEOUT_MS = 100
PERF_BUFFER_PAGES = 64
PERF_BUFFER_TIME_MS = 10

# Raw records of one event map held in memory between the kernel's ring and the consumer.
# 32 MiB is about 600,000 records of 48 bytes: a burst that size waits in memory instead of
# being dropped (bench/run.py's flood queues 20-27 MiB of them at its peak).
DEFAULT_QUEUE_BYTES = 32 << 20

# Wasm guests: what a wasm32 guest can address, the most --wasm-memory may give
WASM_MAX_MEMORY = 4 << 30

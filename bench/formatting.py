"""Formatting records as JSON lines: eunomia's plain-Python path against the compiled
libraries one might reach for, on the same bytes in the same run (#29 asked to choose
by the numbers). The records are the throughput flood's (48 bytes: four integers of 64
and 32 bits, a char[16], one more integer), 4096 of them in one ring-buffer batch.

    python3 bench/formatting.py [--rounds 200]

Each candidate turns the batch into the same bytes (checked) and is timed in CPU time
per record; a library that is not installed is skipped and said so.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

COUNT = 4096
# the flood record's fields and their numpy types (bench/flood.h)
FIELDS = {"ts": "<u8", "seq": "<u8", "pid": "<i4", "tid": "<i4", "comm": "S16", "arg": "<u8"}
NAMES = list(FIELDS)
RECORD = struct.Struct("<QQii16sQ")
STRIDE = 8 + RECORD.size


def batch() -> bytes:
    return b"".join(struct.pack("<II", RECORD.size, 0) +
                    RECORD.pack(1733213020123456789 + i, i, 4242, 4243, b"producer", 0)
                    for i in range(COUNT))


def eunomia_path(blob: bytes):
    """What `ecli run --json` does: the JSON formatter of the record's codec."""
    from eunomia.decode.codecs import Codec  # noqa: F401 (the package imports)
    from eunomia.output.records import JsonFormatter
    from eunomia.runtime.ringbuf import RecordBatch

    class FloodCodec:           # the flat layout the flood's BTF gives
        fields = tuple((name, "", None) for name in NAMES)

        @staticmethod
        def flat_layout():
            return struct.Struct("<QQii16sQ"), list(NAMES), [4]
    formatter = JsonFormatter(FloodCodec())
    records = RecordBatch(blob, COUNT, RECORD.size, STRIDE)
    return lambda: ("\n".join(formatter.rows(records)) + "\n").encode()


def _dicts(blob: bytes) -> list[dict]:
    skip = struct.Struct(f"<8x{RECORD.format[1:]}")
    return [{"ts": a, "seq": b, "pid": c, "tid": d,
             "comm": e.partition(b"\0")[0].decode("utf-8", "replace"), "arg": f}
            for a, b, c, d, e, f in skip.iter_unpack(blob)]


def orjson_path(blob: bytes):
    """orjson.dumps of a dict per record (it has no formatting from tuples)."""
    import orjson

    def run():
        dumps = orjson.dumps
        return b"\n".join([dumps(d) for d in _dicts(blob)]) + b"\n"
    return run


def msgspec_path(blob: bytes):
    """msgspec: a Struct per record, one encode_lines call for the batch."""
    import msgspec

    class Flood(msgspec.Struct):
        ts: int
        seq: int
        pid: int
        tid: int
        comm: str
        arg: int
    encoder = msgspec.json.Encoder()
    skip = struct.Struct(f"<8x{RECORD.format[1:]}")

    def run():
        return encoder.encode_lines([
            Flood(a, b, c, d, e.partition(b"\0")[0].decode("utf-8", "replace"), f)
            for a, b, c, d, e, f in skip.iter_unpack(blob)])
    return run


def numpy_path(blob: bytes):
    """numpy: the batch as a structured array (no per-record unpack), then the same
    %-template per row (numpy has no JSON writer)."""
    import numpy
    dtype = numpy.dtype({"names": NAMES, "formats": list(FIELDS.values()),
                         "offsets": [8, 16, 24, 28, 32, 48], "itemsize": STRIDE})
    template = '{"ts":%s,"seq":%s,"pid":%s,"tid":%s,"comm":%s,"arg":%s}'

    def run():
        rows = numpy.frombuffer(blob, dtype).tolist()
        return ("\n".join([template % (a, b, c, d, json.dumps(e.decode()), f)
                           for a, b, c, d, e, f in rows]) + "\n").encode()
    return run


CANDIDATES = {"eunomia (struct + %-template, plain Python)": eunomia_path,
              "orjson (a dict per record)": orjson_path,
              "msgspec (a Struct per record, encode_lines)": msgspec_path,
              "numpy (structured array + %-template)": numpy_path}


def run(rounds: int) -> dict:
    blob = batch()
    expected = None
    results = {}
    for name, make in CANDIDATES.items():
        try:
            function = make(blob)
        except ImportError as exc:
            results[name] = {"skipped": f"not installed ({exc.name})"}
            continue
        out = function()
        parsed = [json.loads(line) for line in out.decode().splitlines()]
        expected = expected or parsed
        if parsed != expected:
            raise SystemExit(f"{name}: not the same records")
        started = time.process_time()
        for _ in range(rounds):
            function()
        results[name] = {"us_per_record": round((time.process_time() - started)
                                                / (rounds * COUNT) * 1e6, 3)}
    base = results[next(iter(CANDIDATES))]["us_per_record"]
    for result in results.values():
        if "us_per_record" in result:
            result["x_eunomia"] = round(result["us_per_record"] / base, 2)
    return results


def table(results: dict) -> str:
    lines = [f"formatting {COUNT} flood records as JSON lines (CPU per record)",
             f"{'':46} {'us':>7} {'x ours':>7}"]
    for name, r in results.items():
        if "skipped" in r:
            lines.append(f"{name:46} {r['skipped']}")
        else:
            lines.append(f"{name:46} {r['us_per_record']:>7} {r['x_eunomia']:>7}")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    print(table(run(parser.parse_args().rounds)))

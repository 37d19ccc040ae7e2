"""A long fuzz campaign over the package readers (scripts/fuzz runs it): random
mutations of a seed package's ELF bytes, BTF bytes, names (string tables), section
headers, compressed object and JSON document for a time budget; every exception outside
EunomiaError, every hang and every MemoryError is tallied by where it was raised, with
one reproducing input saved per place. One input in LIBBPF_EVERY is also opened in
libbpf in a child process, where a signal (a crash), a hang or running out of memory
counts too.

    python3 -m tests.fuzz.campaign SEED_PACKAGE.json [--seconds 600] [--out DIR]
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import random
import resource
import signal
import sys
import time
import traceback
from pathlib import Path

from tests.fuzz.harness import btf_span, object_of, open_in_child, read_everything, with_object

LIBBPF_EVERY = 10


class Hang(Exception):
    pass


def mutate(seed: dict, rng: random.Random) -> bytes:
    kind = rng.choice(["elf", "btf", "doc", "names", "headers", "compressed"])
    if kind == "doc":
        doc = json.loads(json.dumps(seed))
        for _ in range(rng.randint(1, 3)):
            _mutate_doc(doc, rng)
        return json.dumps(doc).encode()
    if kind == "compressed":
        return _mutate_compressed(seed, rng)
    elf = bytearray(object_of(seed))
    if kind == "names":
        start, size = rng.choice(_string_spans(bytes(elf)))
    elif kind == "headers":
        start = int.from_bytes(elf[0x28:0x30], "little")           # e_shoff
        size = len(elf) - start
    else:
        start, size = (0, len(elf)) if kind == "elf" else btf_span(bytes(elf))
    for _ in range(rng.randint(1, 8)):
        at = start + rng.randrange(size)
        width = rng.choice([1, 1, 2, 4])
        value = rng.choice([0, 1, 0xff, 0x7f, 0x80, rng.getrandbits(8 * width),
                            (1 << (8 * width)) - 1])
        elf[at:at + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
    return with_object(seed, bytes(elf))


def _string_spans(elf: bytes) -> list[tuple[int, int]]:
    from eunomia.elf import Elf
    return [(s.offset, s.size) for s in Elf(elf).sections
            if s.size and (s.type == 3 or s.name == ".BTF")]        # SHT_STRTAB, .BTF


def _mutate_compressed(seed: dict, rng: random.Random) -> bytes:
    """The bpf_object field cut short, a byte of its zlib stream changed, or a stream
    that inflates far past any object (a bomb)."""
    import base64
    import zlib
    doc = dict(seed)
    raw = bytearray(base64.b64decode(seed["bpf_object"]))
    choice = rng.choice(["cut", "byte", "bomb"])
    if choice == "cut":
        raw = raw[:rng.randrange(len(raw))]
    elif choice == "byte":
        raw[rng.randrange(len(raw))] = rng.getrandbits(8)
    else:
        bomb = zlib.compressobj(9)
        raw = bytearray(b"".join(bomb.compress(bytes(1 << 24)) for _ in range(8)) +
                        bomb.flush())
    doc["bpf_object"] = base64.b64encode(bytes(raw)).decode()
    return json.dumps(doc).encode()


_VALUES = [None, True, False, 0, -1, 1, 10 ** 12, -(10 ** 12), 2 ** 70, 1.5, float("nan"),
           "", "x", "event", "no_export", [], {}, [1], {"a": 1}, "\u0000"]


def _mutate_doc(doc, rng: random.Random) -> None:
    paths = []

    def walk(value, path):
        if isinstance(value, dict):
            for key, item in value.items():
                if key != "bpf_object":
                    paths.append((path, key))
                    walk(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                paths.append((path, index))
                walk(item, (*path, index))
    walk(doc, ())
    if not paths:
        return
    path, key = rng.choice(paths)
    target = doc
    for step in path:
        target = target[step]
    if isinstance(target, dict) and rng.random() < 0.3:
        target.pop(key, None)
    else:
        target[key] = copy.deepcopy(rng.choice(_VALUES))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("seed", help="a package.json to mutate")
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--out", default="fuzz-findings", help="where reproducers go")
    parser.add_argument("--random-seed", type=int, default=None)
    args = parser.parse_args(argv)
    seed = json.loads(Path(args.seed).read_text())
    rng = random.Random(args.random_seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # MemoryError instead of the machine swapping: 2 GiB of address space
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(Hang("over 2 s")))
    found: dict[str, int] = collections.Counter()
    runs, end = 0, time.monotonic() + args.seconds
    from eunomia.errors import EunomiaError
    while time.monotonic() < end:
        content = mutate(seed, rng)
        runs += 1
        signal.alarm(2)
        try:
            read_everything(content)
        except EunomiaError:
            pass
        except (Exception, Hang) as exc:     # noqa: BLE001 (that is what we look for)
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno}"
            if where not in found:
                (out / f"case-{len(found)}.json").write_bytes(content)
                print(f"new: {where}: {str(exc)[:120]}", flush=True)
            found[where] += 1
        finally:
            signal.alarm(0)
        if runs % LIBBPF_EVERY == 0:
            problem = open_in_child(content)
            if problem is not None:
                where = f"libbpf open: {problem}"
                if where not in found:
                    (out / f"case-{len(found)}.json").write_bytes(content)
                    print(f"new: {where}", flush=True)
                found[where] += 1
    print(f"{runs} inputs, {sum(found.values())} failures from {len(found)} places")
    for where, count in found.most_common():
        print(f"{count:7} {where}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

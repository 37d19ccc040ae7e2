"""What checking a client's package in a child process adds to a task's start: the
check (parse, BTF and libbpf open in a child from the warm fork server) next to reading
the same package in-process, which a start does anyway.

    sudo python3 bench/untrusted_check.py [--rounds 30] [--package PATH]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from common import median_call_ms

from eunomia import Package, compile
from eunomia.runtime.untrusted import check_untrusted, warm_up


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--package", help="default: examples/exitsnoop, compiled now")
    args = parser.parse_args(argv)
    if args.package:
        content = Path(args.package).read_bytes()
    else:
        out = Path(tempfile.mkdtemp())
        example = HERE.parent / "examples" / "exitsnoop"
        compile(example / "exitsnoop.bpf.c", example / "exitsnoop.h", outdir=out)
        content = (out / "package.json").read_bytes()
    warm_up()
    check_untrusted(content)            # the fork server's first child imports nothing more

    def in_process():
        Package.load(content).btf()
    reference = median_call_ms(in_process, args.rounds)
    checked = median_call_ms(lambda: check_untrusted(content), args.rounds)
    print(f"{'':40} {'median ms':>10} {'x ref':>6}")
    print(f"{'read in-process (reference)':40} {reference:10.1f} {1.0:6.2f}")
    print(f"{'checked in a child (fork server)':40} {checked:10.1f} {checked / reference:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

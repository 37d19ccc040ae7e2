"""What reading a package costs: Package.load of the examples (JSON, base64, zlib, the
meta's validation), the meta's validation alone, and json.loads of the same bytes as the
floor, in the same run; ratios to the floor.

    python3 bench/package_load.py [--rounds 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from common import median_call_ms

from eunomia import Package, compile
from eunomia.package.meta import Meta

EXAMPLES = ("exitsnoop", "opensnoop", "bootstrap", "filetop")


def packages(names) -> dict[str, bytes]:
    out = Path(tempfile.mkdtemp())
    found = {}
    for name in names:
        example = HERE.parent / "examples" / name
        header = example / f"{name}.h"
        compile(example / f"{name}.bpf.c", header if header.exists() else None,
                outdir=out / name)
        found[name] = (out / name / "package.json").read_bytes()
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    results = {}
    for name, content in packages(EXAMPLES).items():
        doc = json.loads(content)
        floor = 1000 * median_call_ms(lambda c=content: json.loads(c), args.rounds)
        meta = 1000 * median_call_ms(lambda d=doc: Meta.from_dict(d["meta"]), args.rounds)
        load = 1000 * median_call_ms(lambda c=content: Package.load(c), args.rounds)
        results[name] = {"json_loads_us": floor, "meta_us": meta, "load_us": load,
                         "meta_ratio": meta / floor, "load_ratio": load / floor}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'package':<12} {'json.loads':>11} {'meta':>9} {'Package.load':>13}  "
          "(median µs; ratios to json.loads)")
    for name, r in results.items():
        print(f"{name:<12} {r['json_loads_us']:>11.1f} {r['meta_us']:>9.1f} "
              f"{r['load_us']:>13.1f}  meta {r['meta_ratio']:.2f}x, load "
              f"{r['load_ratio']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

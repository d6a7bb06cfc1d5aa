"""Run every benchmark and print its figures: `python -m bench [name ...] [--json PATH]`.

Each `bench/bench_<name>.py` has a `main()` that prints lines `<metric>: <value> <unit> (target ...)`.
They run one after another (never in parallel: they measure the machine).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
import traceback
from pathlib import Path

import bench
from bench.common import RECORDED


def main(argv: list[str]) -> int:
    json_path = None
    if "--json" in argv:
        at = argv.index("--json")
        if at + 1 >= len(argv):
            print("--json needs a file path", file=sys.stderr)
            return 2
        json_path, argv = argv[at + 1], argv[:at] + argv[at + 2:]
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in argv] or names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(names)}", file=sys.stderr)
        return 2
    failed = []
    results: dict[str, list[dict]] = {}
    for name in wanted:
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        token = RECORDED.set(results.setdefault(name.removeprefix("bench_"), []))
        try:
            importlib.import_module(f"bench.{name}").main()
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
        finally:
            RECORDED.reset(token)
        print(f"   ({time.perf_counter() - started:.0f} s)", flush=True)
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

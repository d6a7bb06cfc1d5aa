"""Run every benchmark and print its figures: `python -m bench [name ...] [--json PATH] [-- options]`.

Options after the names (``python -m bench city --cameras 200 --minutes 1``) go to the one
benchmark named, whose ``main(argv)`` takes them.

Each `bench/bench_<name>.py` has a `main()` that prints lines `<metric>: <value> <unit> (target ...)`.
They run one after another (never in parallel: they measure the machine). ``--json PATH`` also
writes every figure printed as a list of {benchmark, metric, value, unit, target} records.
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import pkgutil
import re
import sys
import time
import traceback
from contextlib import redirect_stdout
from pathlib import Path

import bench

_FIGURE = re.compile(r"^(?P<metric>[^\s].*?): (?P<value>-?[\d,]+(?:\.\d+)?) (?P<unit>\S+)(?: \(target (?P<target>.*)\))?$")


class _Tee(io.TextIOBase):
    """Prints as usual and keeps the lines, to pick the figures out of them afterwards."""

    def __init__(self, out) -> None:
        self._out, self.lines, self._partial = out, [], ""

    def write(self, text: str) -> int:
        self._out.write(text)
        self._partial += text
        *done, self._partial = self._partial.split("\n")
        self.lines += done
        return len(text)

    def flush(self) -> None:
        self._out.flush()


def figures(lines: list[str], benchmark: str) -> list[dict]:
    out = []
    for line in lines:
        match = _FIGURE.match(line)
        if match:
            out.append({"benchmark": benchmark, "metric": match["metric"], "value": float(match["value"].replace(",", "")),
                        "unit": match["unit"], "target": match["target"]})  # fmt: skip
    return out


def main(argv: list[str]) -> int:
    json_path = None
    if "--json" in argv:
        at = argv.index("--json")
        if at + 1 >= len(argv):
            print("--json needs a file path", file=sys.stderr)
            return 2
        json_path = Path(argv[at + 1])
        argv = argv[:at] + argv[at + 2 :]
    options: list[str] = []
    first_option = next((i for i, word in enumerate(argv) if word.startswith("-")), None)
    if first_option is not None:
        argv, options = argv[:first_option], [w for w in argv[first_option:] if w != "--"]
    if options and len(argv) != 1:
        print("options after the benchmark's name need exactly one benchmark", file=sys.stderr)
        return 2
    records: list[dict] = []
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in argv] or names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(names)}", file=sys.stderr)
        return 2
    if options and not inspect.signature(importlib.import_module(f"bench.{wanted[0]}").main).parameters:
        print(f"{wanted[0].removeprefix('bench_')} takes no options (given: {' '.join(options)})", file=sys.stderr)
        return 2
    failed = []
    for name in wanted:
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        tee = _Tee(sys.stdout)
        try:
            with redirect_stdout(tee):
                entry = importlib.import_module(f"bench.{name}").main
                entry(options) if options else entry()
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
        records += figures(tee.lines, name.removeprefix("bench_"))
        print(f"   ({time.perf_counter() - started:.0f} s)", flush=True)
    if json_path is not None:
        json_path.write_text(json.dumps(records, indent=2, ensure_ascii=False), encoding="utf-8")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

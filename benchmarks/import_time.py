"""What ``import torchinit`` costs on top of ``import torch``, in fresh interpreters.

    python benchmarks/import_time.py                  # 21 pairs with this interpreter
    python benchmarks/import_time.py --runs 41 --top 25 --json out.json

Each pair is two fresh processes of the same interpreter: one imports torch, the other torch and
then torchinit; both time their imports with ``time.perf_counter`` (interpreter start-up is not
counted). The pairs alternate which process runs first, so slow drifts of the machine fall on
both sides. Two warm-up pairs are discarded (they fill the file cache).

Printed figures (milliseconds, medians over the pairs):

* ``torch``: ``import torch`` alone;
* ``+torchinit (paired)``: the median of (torch + torchinit process) minus (torch process),
  pair by pair: the figure the README reports;
* ``+torchinit (in-process)``: the time of ``import torchinit`` measured after torch in the
  same process (less noisy, nearly the same number);
* the same two differences in CPU time (``time.process_time``), which a machine busy with other
  work inflates less than wall time.

The module's package is byte-compiled first (``compileall`` into its ``__pycache__``, which git
ignores), as ``pip install`` does for an installed package, since an editable checkout run
with ``PYTHONDONTWRITEBYTECODE=1`` would otherwise compile every file on every import;
``--source`` skips that and measures the compile too.

``--top N`` adds the N slowest modules that ``import torchinit`` loads after torch, from one
``python -X importtime`` run (cumulative microseconds, as Python reports them).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

TORCH_ONLY = (
    "import time; t = time.perf_counter(); c = time.process_time(); import torch; "
    "print(time.perf_counter() - t, time.process_time() - c)"
)
WITH_TORCHINIT = (
    "import time; t = time.perf_counter(); c = time.process_time(); import torch; "
    "t1 = time.perf_counter(); c1 = time.process_time(); import {module}; "
    "t2 = time.perf_counter(); c2 = time.process_time(); print(t2 - t, t2 - t1, c2 - c, c2 - c1)"
)


def _run(python: str, code: str) -> list[float]:
    """Seconds printed by one fresh interpreter running ``code``."""
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True).stdout
    return [float(x) for x in out.split()]


def measure(python: str, module: str, runs: int, warmup: int = 2) -> dict[str, float | int]:
    """Medians (ms) of ``runs`` alternating pairs of fresh processes, after ``warmup`` pairs."""
    with_code = WITH_TORCHINIT.format(module=module)
    torch_ms: list[float] = []
    total_ms: list[float] = []
    paired_ms: list[float] = []
    inproc_ms: list[float] = []
    paired_cpu_ms: list[float] = []
    inproc_cpu_ms: list[float] = []
    for i in range(warmup + runs):
        if i % 2:
            bare, bare_cpu = _run(python, TORCH_ONLY)
            total, inproc, total_cpu, inproc_cpu = _run(python, with_code)
        else:
            total, inproc, total_cpu, inproc_cpu = _run(python, with_code)
            bare, bare_cpu = _run(python, TORCH_ONLY)
        if i < warmup:
            continue
        torch_ms.append(bare * 1e3)
        total_ms.append(total * 1e3)
        paired_ms.append((total - bare) * 1e3)
        inproc_ms.append(inproc * 1e3)
        paired_cpu_ms.append((total_cpu - bare_cpu) * 1e3)
        inproc_cpu_ms.append(inproc_cpu * 1e3)
    return {
        "runs": runs,
        "torch_ms": statistics.median(torch_ms),
        "torch_and_module_ms": statistics.median(total_ms),
        "paired_extra_ms": statistics.median(paired_ms),
        "in_process_extra_ms": statistics.median(inproc_ms),
        "in_process_extra_min_ms": min(inproc_ms),
        "paired_extra_cpu_ms": statistics.median(paired_cpu_ms),
        "in_process_extra_cpu_ms": statistics.median(inproc_cpu_ms),
    }


def byte_compile(python: str, module: str) -> Path:
    """Compile ``module``'s package to bytecode with ``python`` (as an install does); its folder."""
    code = (
        "import importlib.util, sys; spec = importlib.util.find_spec(sys.argv[1]); "
        "print(spec.submodule_search_locations[0] if spec.submodule_search_locations else spec.origin)"
    )
    where = subprocess.run(
        [python, "-c", code, module], check=True, capture_output=True, text=True
    ).stdout.strip()
    subprocess.run([python, "-m", "compileall", "-q", where], check=True)
    return Path(where)


_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def slowest_modules(python: str, module: str, top: int) -> list[tuple[str, int]]:
    """The ``top`` modules (name, cumulative us) that ``import module`` loads after torch."""
    code = f"import torch; import {module}"
    err = subprocess.run(
        [python, "-X", "importtime", "-c", code], check=True, capture_output=True, text=True
    ).stderr
    rows = [
        (m.group(4), int(m.group(2)), len(m.group(3))) for m in map(_IMPORTTIME.match, err.splitlines()) if m
    ]
    torch_end = max(i for i, (name, _, indent) in enumerate(rows) if name == "torch" and indent == 1)
    after = rows[torch_end + 1 :]
    return sorted(((name, cum) for name, cum, _ in after), key=lambda r: -r[1])[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=21, help="pairs measured (after 2 warm-up pairs)")
    parser.add_argument("--python", default=sys.executable, help="interpreter to measure (default: this one)")
    parser.add_argument("--module", default="torchinit", help="module imported after torch")
    parser.add_argument("--top", type=int, default=0, help="also list the N slowest modules it loads")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--source", action="store_true", help="do not byte-compile the package first")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}")

    if not args.source:
        byte_compile(args.python, args.module)
    result = measure(args.python, args.module, args.runs)
    result["byte_compiled"] = not args.source
    mode = "source compiled at import" if args.source else "byte-compiled"
    print(f"{args.runs} pairs of fresh processes ({args.python}, {args.module} {mode}), medians:")
    print(f"  import torch                   {result['torch_ms']:8.1f} ms")
    print(f"  import torch, {args.module:<16} {result['torch_and_module_ms']:8.1f} ms")
    print(f"  +{args.module} (paired)          {result['paired_extra_ms']:8.1f} ms")
    print(
        f"  +{args.module} (in-process)      {result['in_process_extra_ms']:8.1f} ms"
        f"   (min {result['in_process_extra_min_ms']:.1f})"
    )
    print(
        f"  CPU time (process_time): +{result['paired_extra_cpu_ms']:.1f} ms paired, "
        f"+{result['in_process_extra_cpu_ms']:.1f} ms in-process"
    )
    if args.top:
        print(f"slowest modules loaded by import {args.module} after torch (cumulative ms):")
        for name, cum in slowest_modules(args.python, args.module, args.top):
            print(f"  {cum / 1e3:7.1f}  {name}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

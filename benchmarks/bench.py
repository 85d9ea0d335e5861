"""torchinit against mmengine and against the raw cost of filling the tensors, in one run.

    make bench                      # sets up .venv-bench (torch, mmengine-lite) and runs this
    python benchmarks/bench.py --quick

For each model the same ``init_cfg`` is applied by torchinit (seeded: per-tensor generators on
a thread pool; unseeded: the global generator, one thread) and by mmengine 0.10
(``mmengine.model.BaseModule.init_weights`` on the very same module classes, with mmcv's
ConvModule default re-created). The *floor* is one single-thread ``torch.nn.init`` call per
tensor with the same distribution, measured in the same process, in turn with torchinit's
seeded and unseeded runs (one round of each per repeat). The *parallel floor* makes the same
calls, each with a generator of its own, on as many threads as a seeded run uses (largest
first, each thread taking the next when free): what this machine's cores give to a
per-tensor split with no bookkeeping at all, so seeded / parallel floor is torchinit's own
cost on top of what the cores deliver at that moment. Times are medians over repeats (the
table also gives seeded/floor from the minima); the gpt-1b rows run in subprocesses so that
each has its own peak RSS.

Prints a table and writes JSON (``benchmarks/results/latest.json`` by default).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.setrecursionlimit(20000)

import torch  # noqa: E402
from torch import nn  # noqa: E402

import torchinit  # noqa: E402
from torchinit import initializers as I  # noqa: E402
from torchinit._plan_items import Fill  # noqa: E402
from torchinit._planner import Planner  # noqa: E402

try:
    import logging

    from mmengine.logging import MMLogger
    from mmengine.model import BaseModule as MMBaseModule
    from mmengine.model import constant_init as mm_constant_init
    from mmengine.model import kaiming_init as mm_kaiming_init

    MMLogger.get_instance("bench", log_level="WARNING")
    logging.getLogger("mmengine").setLevel(logging.WARNING)
    HAVE_MMENGINE = True
except ImportError:  # the table then has no mmengine column
    HAVE_MMENGINE = False


# --------------------------------------------------------------------------- helpers
def median_time(fn: Callable[[], Any], repeats: int, setup: Callable[[], Any] | None = None) -> float:
    times = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved_times(
    cases: dict[str, tuple[Callable[[], Any], Callable[[], Any] | None]], repeats: int
) -> dict[str, list[float]]:
    """Times of each case, ``repeats`` rounds of all cases in turn (a neighbour's burst of load
    hits every case alike, not one); each case is ``(fn, setup)``, the setup not timed."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, (fn, setup) in cases.items():
            if setup is not None:
                setup()
            gc.collect()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def reset_init_flags(model: nn.Module) -> None:
    for m in model.modules():
        if hasattr(m, "_is_init"):
            m._is_init = False


def mmcv_convmodule_init_weights(self: Any) -> None:
    """What mmcv's ConvModule.init_weights does (mmcv is not installed with mmengine-lite)."""
    if not hasattr(self.conv, "init_weights"):
        if self.with_activation and self.act_cfg["type"] == "LeakyReLU":
            nonlinearity, a = "leaky_relu", self.act_cfg.get("negative_slope", 0.01)
        else:
            nonlinearity, a = "relu", 0
        mm_kaiming_init(self.conv, a=a, nonlinearity=nonlinearity)
    if self.with_norm:
        mm_constant_init(self.norm, 1, bias=0)


def to_mmengine(model: nn.Module) -> nn.Module:
    """Give every torchinit BaseModule of ``model`` mmengine's init_weights (in place)."""
    cache: dict[type, type] = {}
    for m in model.modules():
        if isinstance(m, torchinit.BaseModule):
            cls = type(m)
            if cls not in cache:
                if isinstance(m, torchinit.ConvModule):
                    body = {"init_weights": mmcv_convmodule_init_weights}
                else:
                    skip = {
                        "__init__",
                        "__repr__",
                        "__dict__",
                        "__module__",
                        "__weakref__",
                        "__doc__",
                        "is_init",
                    }
                    body = {k: v for k, v in vars(MMBaseModule).items() if k not in skip}
                mm_cls = type(f"MM{cls.__name__}", (cls,), body)
                # torchinit's BaseModule makes a subclass's own init_weights atomic (a torchinit run
                # around it); mmengine's code must run bare here.
                mm_cls.init_weights = mm_cls.__dict__["init_weights"].__wrapped__
                cache[cls] = mm_cls
            m.__class__ = cache[cls]
    return model


# torch.nn.init's call for each initializer; ``g`` is the generator (None: torch's global one).
_TORCH_FILLS: dict[type, Callable[[torch.Tensor, Any, Any], Any]] = {
    I.Constant: lambda t, i, g: nn.init.constant_(t, i.val),
    I.Normal: lambda t, i, g: nn.init.normal_(t, i.mean, i.std, generator=g),
    I.TruncNormal: lambda t, i, g: nn.init.trunc_normal_(t, i.mean, i.std, i.a, i.b, generator=g),
    I.Uniform: lambda t, i, g: nn.init.uniform_(t, i.a, i.b, generator=g),
    I.Kaiming: lambda t, i, g: (
        nn.init.kaiming_normal_ if i.distribution == "normal" else nn.init.kaiming_uniform_
    )(t, i.a, i.mode, i.nonlinearity, generator=g),
    I.Xavier: lambda t, i, g: (
        nn.init.xavier_normal_ if i.distribution == "normal" else nn.init.xavier_uniform_
    )(t, i.gain, generator=g),
    I.Caffe2Xavier: lambda t, i, g: nn.init.kaiming_uniform_(t, 1, "fan_in", "leaky_relu", generator=g),
}


def floor_jobs(model: nn.Module, generators: bool = False) -> list[Callable[[], Any]]:
    """One torch.nn.init call per tensor that init_weights would fill, same distribution,
    largest first; ``generators``: each with a generator of its own (made in the call, as a
    seeded run makes them), so that calls on different threads do not share torch's."""
    planner = Planner(model, "torchinit")
    planner.plan_init_weights()
    jobs = []
    for step in planner.steps:
        if isinstance(step, Fill) and step.init is not None:
            t = step.slot.current()
            assert t is not None
            fn = _TORCH_FILLS[type(step.init)]
            if generators:
                jobs.append(
                    (t.numel(), lambda t=t, fn=fn, i=step.init: fn(t, i, torch.Generator().manual_seed(0)))
                )
            else:
                jobs.append((t.numel(), lambda t=t, fn=fn, i=step.init: fn(t, i, None)))
    if generators:
        jobs.sort(key=lambda job: -job[0])
    return [job for _, job in jobs]


def run_floor(jobs: list[Callable[[], Any]]) -> None:
    with torch.no_grad():
        for job in jobs:
            job()


def run_parallel_floor(jobs: list[Callable[[], Any]], threads: int) -> None:
    """The floor's calls (made by ``floor_jobs(generators=True)``) on ``threads`` threads, the
    calling one included, each taking the next call as soon as it is free: what a per-tensor
    split on this machine's cores costs with no bookkeeping at all."""
    pending = iter(jobs)
    lock = threading.Lock()

    def drain() -> None:
        with torch.no_grad():
            while True:
                with lock:
                    job = next(pending, None)
                if job is None:
                    return
                job()

    helpers = [threading.Thread(target=drain) for _ in range(threads - 1)]
    for helper in helpers:
        helper.start()
    drain()
    for helper in helpers:
        helper.join()


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- in-process cases
def bench_model(name: str, build: Callable[[], nn.Module], repeats: int) -> dict[str, Any]:
    row: dict[str, Any] = {"case": name}
    time_torchinit(build(), row, repeats)  # its model and floor jobs are freed when it returns
    if HAVE_MMENGINE:
        theirs = to_mmengine(build())
        row["mmengine_s"] = median_time(theirs.init_weights, repeats, lambda: reset_init_flags(theirs))
        del theirs
    gc.collect()
    return row


def time_torchinit(ours: nn.Module, row: dict[str, Any], repeats: int) -> None:
    """The floor, the parallel floor and torchinit's seeded and unseeded runs on ``ours``, in
    turn each repeat, into ``row``."""
    row["params"] = n_params(ours)
    threads_before = torch.get_num_threads()
    jobs = floor_jobs(ours)
    parallel_jobs = floor_jobs(ours, generators=True)

    def floor() -> None:
        torch.set_num_threads(1)  # the floor is single-thread by definition
        try:
            run_floor(jobs)
        finally:
            torch.set_num_threads(threads_before)

    def parallel_floor() -> None:  # on as many threads as a seeded run uses, each single-threaded
        torch.set_num_threads(1)
        try:
            run_parallel_floor(parallel_jobs, threads_before)
        finally:
            torch.set_num_threads(threads_before)

    times = interleaved_times(
        {
            "floor": (floor, None),
            "parallel_floor": (parallel_floor, None),
            "torchinit_seeded": (lambda: ours.init_weights(seed=0), lambda: reset_init_flags(ours)),
            "torchinit_unseeded": (ours.init_weights, lambda: reset_init_flags(ours)),
        },
        repeats,
    )
    for name, values in times.items():  # medians, and the minimum (the run least disturbed by neighbours)
        row[f"{name}_s"], row[f"{name}_min_s"] = statistics.median(values), min(values)


class Nest(torchinit.BaseModule):
    """One level of the deep-nest model: a conv, a norm, and the next level."""

    def __init__(self, depth: int) -> None:
        super().__init__(
            init_cfg=[dict(type="Kaiming", layer="Conv2d"), dict(type="Constant", layer="BatchNorm2d", val=1)]
        )
        self.conv = nn.Conv2d(16, 16, 3)
        self.bn = nn.BatchNorm2d(16)
        self.inner = Nest(depth - 1) if depth > 1 else None


def bench_deep_nest(depths: list[int], repeats: int) -> list[dict[str, Any]]:
    rows = []
    for depth in depths:
        row = bench_model(f"deep-nest-{depth}", lambda d=depth: Nest(d), repeats)
        row["depth"] = depth
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- gpt-1b (subprocesses)
def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def gpt_child(mode: str, size: str) -> dict[str, Any]:
    from examples.gpt import GPT_1B, build_gpt

    kwargs = GPT_1B if size == "1b" else dict(vocab_size=8192, max_len=256, dim=512, depth=8, heads=8)
    torch.manual_seed(0)
    with torch.device("meta"):  # first use of the meta device and of each kernel costs ~1 s once
        nn.Linear(2, 2)
    nn.LayerNorm(2)
    base = rss_bytes()
    out: dict[str, Any] = {"mode": mode}
    t0 = time.perf_counter()
    if mode == "meta":
        with torch.device("meta"):
            model = build_gpt(**kwargs)
        t1 = time.perf_counter()
        torchinit.materialize(model, "cpu", seed=0)
    else:
        model = build_gpt(**kwargs)
        if mode == "mmengine":
            to_mmengine(model)
        t1 = time.perf_counter()
        if mode == "mmengine":
            model.init_weights()
        else:
            model.init_weights(seed=0)
    t2 = time.perf_counter()
    out.update(build_s=t1 - t0, init_s=t2 - t1, total_s=t2 - t0)
    out["params"] = n_params(model)
    out["param_bytes"] = sum(p.numel() * p.element_size() for p in model.parameters()) + sum(
        b.numel() * b.element_size() for b in model.buffers()
    )
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["peak_extra_bytes"] = peak_kb * 1024 - base
    if mode == "eager":
        torch.set_num_threads(1)
        jobs = floor_jobs(model)
        reset_init_flags(model)
        t0 = time.perf_counter()
        run_floor(jobs)
        out["floor_s"] = time.perf_counter() - t0
    return out


def bench_gpt(size: str) -> dict[str, Any]:
    row: dict[str, Any] = {"case": f"gpt-{size}"}
    modes = ["eager", "meta"] + (["mmengine"] if HAVE_MMENGINE else [])
    for mode in modes:
        proc = subprocess.run(
            [sys.executable, __file__, "--gpt-child", mode, "--gpt-size", size],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"gpt child {mode} failed:\n{proc.stderr[-3000:]}")
        row[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    row["params"] = row["eager"]["params"]
    return row


# --------------------------------------------------------------------------- report
def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def print_table(rows: list[dict[str, Any]], gpt: dict[str, Any] | None) -> None:
    head = (
        f"{'case':<18} {'params':>11} {'floor s':>8} {'seeded s':>9} {'unseeded s':>10} {'mmengine s':>10} "
        f"{'seeded/floor':>12} {'(min)':>6} {'unseeded/floor':>14} {'seeded/mmengine':>15} {'mmengine/seeded':>15} "
        f"{'par.floor/floor':>15} {'seeded/par.floor':>16} {'(min)':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        mm = r.get("mmengine_s")
        print(
            f"{r['case']:<18} {r['params']:>11,} {fmt(r['floor_s']):>8} {fmt(r['torchinit_seeded_s']):>9} "
            f"{fmt(r['torchinit_unseeded_s']):>10} {fmt(mm):>10} {ratio(r['torchinit_seeded_s'], r['floor_s']):>12} "
            f"{ratio(r['torchinit_seeded_min_s'], r['floor_min_s']):>6} {ratio(r['torchinit_unseeded_s'], r['floor_s']):>14} {ratio(r['torchinit_seeded_s'], mm):>15} "
            f"{ratio(mm, r['torchinit_seeded_s']):>15} {ratio(r.get('parallel_floor_s'), r['floor_s']):>15} "
            f"{ratio(r['torchinit_seeded_s'], r.get('parallel_floor_s')):>16} "
            f"{ratio(r['torchinit_seeded_min_s'], r.get('parallel_floor_min_s')):>6}"
        )
    nests = [r for r in rows if "depth" in r]
    if len(nests) >= 2:
        a, b = nests[0], nests[-1]
        growth = b["torchinit_seeded_s"] / a["torchinit_seeded_s"]
        print(
            f"\ndeep-nest growth {a['depth']} -> {b['depth']} ({b['depth'] / a['depth']:.0f}x modules): torchinit "
            f"{growth:.1f}x"
            + (f", mmengine {b['mmengine_s'] / a['mmengine_s']:.1f}x" if HAVE_MMENGINE else "")
        )
    if gpt:
        e, m = gpt["eager"], gpt["meta"]
        print(
            f"\n{gpt['case']} ({gpt['params']:,} parameters, {e['param_bytes'] / 2**30:.2f} GiB incl. buffers)"
        )
        print(
            f"  eager build + init(seed):   build {e['build_s']:.2f}s + init {e['init_s']:.2f}s = {e['total_s']:.2f}s, "
            f"peak +{e['peak_extra_bytes'] / 2**30:.2f} GiB ({e['peak_extra_bytes'] / e['param_bytes']:.2f}x params)"
        )
        print(
            f"  meta build + materialize:   build {m['build_s']:.2f}s + init {m['init_s']:.2f}s = {m['total_s']:.2f}s, "
            f"peak +{m['peak_extra_bytes'] / 2**30:.2f} GiB ({m['peak_extra_bytes'] / m['param_bytes']:.2f}x params)"
        )
        print(
            f"  meta/eager time: {m['total_s'] / e['total_s']:.2f}x; single-thread floor (fills only): {e['floor_s']:.2f}s"
        )
        if "mmengine" in gpt:
            mm = gpt["mmengine"]
            print(
                f"  mmengine build + init:      build {mm['build_s']:.2f}s + init {mm['init_s']:.2f}s = "
                f"{mm['total_s']:.2f}s, peak +{mm['peak_extra_bytes'] / 2**30:.2f} GiB; "
                f"meta/mmengine time: {m['total_s'] / mm['total_s']:.2f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small models, 1 repeat: a smoke run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=["resnet50-retina", "vit-l", "deep-nest", "gpt"], action="append")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "latest.json")
    parser.add_argument("--gpt-child", choices=["eager", "meta", "mmengine"], help=argparse.SUPPRESS)
    parser.add_argument("--gpt-size", choices=["1b", "small"], default="1b", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.gpt_child:
        print(json.dumps(gpt_child(args.gpt_child, args.gpt_size)))
        return

    from examples.models import RETINANET_R50_FPN, VIT_L16, build_detector, build_vit

    only = set(args.only or ["resnet50-retina", "vit-l", "deep-nest", "gpt"])
    repeats = 1 if args.quick else args.repeats
    rows: list[dict[str, Any]] = []
    if "resnet50-retina" in only:
        rows.append(
            bench_model(
                "resnet50-retina",
                (lambda: build_detector()) if args.quick else (lambda: build_detector(**RETINANET_R50_FPN)),
                repeats,
            )
        )
    if "vit-l" in only:
        rows.append(
            bench_model(
                "vit-l", (lambda: build_vit()) if args.quick else (lambda: build_vit(**VIT_L16)), repeats
            )
        )
    if "deep-nest" in only:
        rows += bench_deep_nest([10, 20] if args.quick else [50, 100, 200, 400], repeats)
    gpt = bench_gpt("small" if args.quick else "1b") if "gpt" in only else None
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}, mmengine: {'yes' if HAVE_MMENGINE else 'not installed'}\n"
    )
    print_table(rows, gpt)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {"torch": torch.__version__, "threads": torch.get_num_threads(), "rows": rows, "gpt": gpt},
            indent=2,
        )
    )
    print(f"\nJSON written to {args.json}")


if __name__ == "__main__":
    main()

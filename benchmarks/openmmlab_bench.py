"""Real OpenMMLab models: init time and peak extra memory, torchinit (adopted) vs mmengine.

    make bench-openmmlab                                  # sets up .venv-openmmlab, runs the ten models
    .venv-openmmlab/bin/python benchmarks/openmmlab_bench.py --repeats 1 \
        --only mmdet:retinanet_r50_fpn_1x_coco

Ten models are built from the configs that ship inside mmpretrain 1.2, mmdet 3.3 and mmseg 1.2
(``tests_openmmlab/openmmlab_models.py``: downloads removed, no weights), and initialized five
ways: mmengine 0.10.7's own ``BaseModule.init_weights``; and, after ``torchinit.adopt_mmengine()``,
torchinit's default mode and ``compat='mmengine'``, each unseeded (torch's global generator, one
thread, like mmengine) and with ``seed=0, num_threads=2`` (a generator per tensor, filled on
torchinit's own pool of two threads); roots that override ``init_weights()`` without
arguments (DETR's) take them too, as adopted.

Threads. ``--threads`` sets torch's intra-op threads for every way (default 1). On this shared
2-core machine a 2-thread reduction waits for a descheduled thread whenever a neighbour is busy:
the mean of 4.7M floats took 1.3 ms on one thread and 7.8 ms on two (load average 2.7), and
mmengine's init computes a mean of every parameter after every rule, so with 2 threads its time
swung between 0.3 s and 3.2 s for the same Mask R-CNN. One thread measures the work, not the
neighbours; ``--threads 2`` measures the default setting.

Method. Every (model, way) runs in a fresh subprocess, so that no run inherits another's heap:

1. import, shim (``openmmlab_shim``), adopt torchinit if needed; build the model and init it once
   as a warm-up (first-call imports and caches are not counted), then drop it;
2. build a fresh model; ``gc.collect()`` and glibc ``malloc_trim(0)`` return freed memory to the
   kernel; writing ``5`` to ``/proc/self/clear_refs`` resets the kernel's peak-RSS counter
   (``VmHWM``) to the current RSS; read ``VmRSS``;
3. ``init_weights``; read ``VmHWM``. *Peak extra* = ``VmHWM - VmRSS`` of step 2: every byte the
   init touched beyond what the built model already held (snapshots, temporaries, reports,
   Python objects), whatever allocated it;
4. time ``init_weights`` on that model and on ``--repeats - 1`` further fresh builds; the median
   is reported (``time.perf_counter``, the init call only; building is not timed).

*Model MiB* is the size of the model's own tensors (unique storages of parameters and buffers).
Issue 10's target: peak extra <= 5% of it on models with user ``init_weights`` code ("user" is
the number of tensors torchinit's report attributes to a model's own ``init_weights``).

Prints two Markdown tables and writes ``benchmarks/results/openmmlab-latest.json`` (``--show
FILE`` prints the tables of a saved file again).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests_openmmlab"))

from _memory import peak_since_reset, release_and_reset_peak  # noqa: E402  # benchmarks/, the script's folder

#: The ten models: the families of issue 10, at their usual training size.
MODELS = (
    "mmpretrain:resnet50_8xb32_in1k",
    "mmpretrain:convnext-tiny_32xb128_in1k",
    "mmpretrain:vit-base-p16_64xb64_in1k",
    "mmpretrain:swin-tiny_16xb64_in1k",
    "mmpretrain:mae_vit-base-p16_8xb512-amp-coslr-300e_in1k",
    "mmdet:retinanet_r50_fpn_1x_coco",
    "mmdet:mask-rcnn_r50_fpn_1x_coco",
    "mmdet:yolov3_d53_8xb8-320-273e_coco",
    "mmdet:deformable-detr_r50_16xb2-50e_coco",
    "mmseg:swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512",
)

#: The ways to initialize: the keyword arguments of ``init_weights`` (None: mmengine itself).
WAYS: dict[str, dict[str, Any] | None] = {
    "mmengine": None,
    "default": {},
    "default seed=0": {"seed": 0, "num_threads": 2},
    "compat": {"compat": "mmengine"},
    "compat seed=0": {"compat": "mmengine", "seed": 0, "num_threads": 2},
}

MIB = 1024 * 1024


# --------------------------------------------------------------------------- worker (one subprocess)
def _tensor_bytes(model: Any) -> int:
    storages = {}
    for t in [*model.parameters(), *model.buffers()]:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values())


def worker(case_id: str, way: str, repeats: int, threads: int) -> dict[str, Any]:
    """Measure one (model, way) in this process (see the module docstring)."""
    import logging
    import warnings

    import openmmlab_shim
    import torch

    torch.set_num_threads(threads)
    openmmlab_shim.install()
    warnings.simplefilter("ignore")
    from mmengine.logging import MMLogger
    from openmmlab_models import build_model, cases_by_id, load_model_cfg

    def init(model: Any) -> Any:
        return model.init_weights() if kwargs is None else model.init_weights(**kwargs)

    MMLogger.get_current_instance().setLevel(logging.ERROR)
    kwargs = WAYS[way]
    if kwargs is not None:
        import torchinit

        torchinit.adopt_mmengine()
        logging.getLogger("torchinit").setLevel(logging.ERROR)
    case = cases_by_id()[case_id]
    cfg, _ = load_model_cfg(case)
    model = build_model(case, cfg, seed=0)
    init(model)  # warm-up
    del model
    times: list[float] = []
    result: dict[str, Any] = {"case": case_id, "way": way}
    for i in range(max(repeats, 1)):
        model = build_model(case, cfg, seed=i + 1)
        if i == 0:
            result["params"] = sum(p.numel() for p in model.parameters())
            result["tensor_bytes"] = _tensor_bytes(model)
            before = release_and_reset_peak()
        start = time.perf_counter()
        report = init(model)
        times.append(time.perf_counter() - start)
        if i == 0:
            result["peak_extra_bytes"] = peak_since_reset() - before
            if report is not None and hasattr(report, "by_source"):
                result["user_tensors"] = len(report.by_source("user"))
                result["saved_bytes"] = getattr(report, "saved_bytes", None)
        del model, report
    result["seconds"] = statistics.median(times)
    result["times"] = times
    return result


# --------------------------------------------------------------------------- driver
def _run_worker(case_id: str, way: str, repeats: int, threads: int, timeout: float) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        case_id,
        way,
        str(repeats),
        str(threads),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        return {"case": case_id, "way": way, "error": " | ".join(tail)}
    return json.loads(lines[-1])


def _ratio(x: float | None, ref: float | None) -> str:
    return f"{x / ref:.2f}x" if x is not None and ref else "n/a"


def tables(results: list[dict[str, Any]]) -> str:
    by = {(r["case"], r["way"]): r for r in results}
    cases = list(dict.fromkeys(r["case"] for r in results))
    ways = [w for w in WAYS if w != "mmengine"]
    head = "| model | params | mmengine s | " + " | ".join(f"{w} s (/ mm)" for w in ways) + " |"
    lines = ["Init time (median; ratio to mmengine):", "", head, "|" + " --- |" * (3 + len(ways))]
    for case in cases:
        mm = by.get((case, "mmengine"), {})
        cells = []
        for w in ways:
            r = by.get((case, w), {})
            cells.append(
                f"{r['seconds']:.3f} ({_ratio(r['seconds'], mm.get('seconds'))})"
                if "seconds" in r
                else f"error: {r.get('error', '?')[:60]}"
            )
        params = next((r["params"] for w in WAYS if "params" in (r := by.get((case, w), {}))), 0)
        mm_s = f"{mm['seconds']:.3f}" if "seconds" in mm else mm.get("error", "n/a")[:40]
        lines.append(f"| {case} | {params / 1e6:.1f}M | {mm_s} | " + " | ".join(cells) + " |")
    head = "| model | model MiB | user | mmengine | " + " | ".join(ways) + " |"
    lines += [
        "",
        "Peak extra memory during init_weights, MiB (% of the model's tensor bytes):",
        "",
        head,
        "|" + " --- |" * (4 + len(ways)),
    ]
    for case in cases:
        rows = [by.get((case, w), {}) for w in WAYS]
        model_bytes = next((r["tensor_bytes"] for r in rows if "tensor_bytes" in r), 0)
        user = next((r["user_tensors"] for r in rows[1:] if "user_tensors" in r), "n/a")
        cells = [
            f"{r['peak_extra_bytes'] / MIB:.1f} ({100 * r['peak_extra_bytes'] / model_bytes:.1f}%)"
            if "peak_extra_bytes" in r and model_bytes
            else "n/a"
            for r in rows
        ]
        lines.append(f"| {case} | {model_bytes / MIB:.0f} | {user} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed init_weights calls per (model, way)")
    parser.add_argument("--only", nargs="*", default=None, help="case ids (default: the ten models)")
    parser.add_argument("--ways", nargs="*", default=list(WAYS), choices=list(WAYS))
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads in every way")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per subprocess")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "openmmlab-latest.json")
    parser.add_argument("--show", type=Path, default=None, help="print the tables of a saved JSON and exit")
    parser.add_argument(
        "--worker", nargs=4, metavar=("CASE", "WAY", "REPEATS", "THREADS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.show:
        saved = json.loads(args.show.read_text())
        print(f"{saved['meta']}\n\n{tables(saved['results'])}")
        return 0
    if args.worker:
        case_id, way, repeats, threads = args.worker
        print(json.dumps(worker(case_id, way, int(repeats), int(threads))))
        return 0
    load_before = os.getloadavg()
    results = []
    for case_id in args.only or MODELS:
        for way in args.ways:
            result = _run_worker(case_id, way, args.repeats, args.threads, args.timeout)
            results.append(result)
            shown = {k: v for k, v in result.items() if k not in ("case", "times")}
            print(f"{case_id} [{way}]: {shown}", file=sys.stderr, flush=True)
    import torch

    meta = {
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "repeats": args.repeats,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
    }
    text = tables(results)
    print(f"{meta}\n\n{text}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

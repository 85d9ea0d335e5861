"""Sharded seeded init of gpt-1b (issue 12): one rank's work, and one rank's memory.

    .venv/bin/python benchmarks/distributed_bench.py                # both parts, gpt-1b (~2 min, ~6 GiB)
    .venv/bin/python benchmarks/distributed_bench.py --size small   # a smoke run
    .venv/bin/python benchmarks/distributed_bench.py --part work --repeats 3
    .venv/bin/python benchmarks/distributed_bench.py --part pretrained     # Pretrained on 2 ranks (~11 GiB of disk for gpt-1b)
    .venv-bench/bin/python benchmarks/distributed_bench.py --part seeded   # resnet50-retina, vit-l vs mmengine

**work**: ranks simulated in one process, one thread, CPU seconds, so that concurrent ranks
(and other jobs) on a small machine do not measure each other. For world W and each rank r, every parameter's FSDP2
``Shard(0)`` piece (rows split like ``torch.chunk``) is allocated and faulted in, then filled
exactly as ``materialize(seed=0)`` fills a rank's shard (the band pieces of
``torchinit.distributed.fills``; tensors of one band, or not elementwise, drawn whole and
sliced). Reported: the slowest rank's time over plain ``normal_``/``fill_`` of the whole
model in one process (the same values per tensor kind, one thread, warm memory).

**memory**: 2 real gloo ranks, each building gpt-1b on meta, ``fully_shard`` per block and
root, then ``materialize('cpu', seed=0)``: peak RSS over the rank's baseline (``VmHWM``, reset
at the baseline: see ``_memory``) against the bytes of its shard of the parameters.

**pretrained**: the same 2 ranks load every tensor from one ``.safetensors`` file of the
model (written first, seeded): peak RSS over baseline against the rank's shard plus the
largest checkpoint tensor (each rank reads one checkpoint tensor at a time).

**seeded**: one process, ``init_weights(seed=0)`` of resnet50-retina and ViT-L against the
single-thread floor and mmengine's own ``init_weights`` (see :func:`seeded`).

Prints a table and writes JSON (``benchmarks/results/distributed.json`` by default).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from _memory import peak_since_reset, release_and_reset_peak  # noqa: E402  # benchmarks/, the script's folder
from torch import nn  # noqa: E402

from torchinit._plan_items import Fill  # noqa: E402
from torchinit._planner import Planner  # noqa: E402
from torchinit.distributed.bands import BandGrid, band_draw  # noqa: E402
from torchinit.distributed.fills import _band_pieces  # noqa: E402
from torchinit.distributed.sharded import Box  # noqa: E402

SMALL = dict(vocab_size=8192, max_len=256, dim=512, depth=8, heads=8)


def build(size: str) -> nn.Module:
    from examples.gpt import GPT_1B, build_gpt

    with torch.device("meta"):
        return build_gpt(**(GPT_1B if size == "1b" else SMALL))


def fills_of(model: nn.Module) -> list[tuple[str, tuple[int, ...], Any]]:
    """(name, global shape, initializer) of every planned fill."""
    planner = Planner(model, "torchinit")
    planner.plan_init_weights()
    return [
        (s.slot.name, tuple(s.slot.current().shape), s.init) for s in planner.steps if isinstance(s, Fill)
    ]


def rows_of(rows: int, world: int, rank: int) -> tuple[int, int]:
    chunk = -(-rows // world)
    start = min(rank * chunk, rows)
    return start, min(start + chunk, rows)


def rank_jobs(plan: list[tuple[str, tuple[int, ...], Any]], world: int, rank: int) -> list[Any]:
    """What materialize(seed=0) runs on this rank, each shard allocated and faulted in."""
    jobs = []
    for name, shape, init in plan:
        r0, r1 = rows_of(shape[0], world, rank)
        local = torch.empty((r1 - r0, *shape[1:])).fill_(0)
        box = Box((r0, *(0 for _ in shape[1:])), (r1 - r0, *shape[1:]))
        draw, grid = band_draw(init, shape), BandGrid.of(shape)
        if not init.random:
            jobs.append(lambda init=init, local=local: init.fill(local))
        elif draw is not None and grid.count > 1:
            jobs += [p.run for p in _band_pieces(draw, grid, 0, name, local, box)]
        else:  # drawn whole and sliced (here: 1-d tensors of one band)

            def whole(
                init: Any = init, shape: tuple[int, ...] = shape, local: torch.Tensor = local, box: Box = box
            ) -> None:
                full = torch.empty(shape)
                init.fill(full, generator=torch.Generator().manual_seed(0))
                local.copy_(full[box.slices()])

            jobs.append(whole)
    return jobs


def plain_jobs(plan: list[tuple[str, tuple[int, ...], Any]]) -> list[Any]:
    """Plain normal_ / fill_ of every whole tensor (the floor: one generator, no bands)."""
    jobs = []
    for _, shape, init in plan:
        t = torch.empty(shape).fill_(0)
        jobs.append(
            (lambda t=t, i=init: t.normal_(0.0, i.std))
            if init.random
            else (lambda t=t, i=init: t.fill_(i.val))
        )
    return jobs


def timed(jobs: list[Any], repeats: int) -> float:
    """Median CPU seconds of the jobs (one thread: CPU time is what other processes cannot inflate)."""
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        with torch.no_grad():
            for job in jobs:
                job()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def work(size: str, repeats: int) -> dict[str, Any]:
    torch.set_num_threads(1)
    plan = fills_of(build(size))
    jobs = plain_jobs(plan)
    floor = timed(jobs, repeats)
    del jobs
    out: dict[str, Any] = {"plain_normal_s": floor, "worlds": {}}
    for world in (1, 2, 4):
        per_rank = []
        for rank in range(world):
            jobs = rank_jobs(plan, world, rank)
            per_rank.append(timed(jobs, repeats))
            del jobs
        out["worlds"][world] = {
            "ranks_s": per_rank,
            "slowest_s": max(per_rank),
            "vs_plain": max(per_rank) / floor,
        }
    return out


# --------------------------------------------------------------------------- seeded, one process
def seeded(case: str, repeats: int) -> dict[str, Any]:
    """Interleaved runs of the floor (one thread), torchinit seeded and mmengine (all threads);
    the minimum of each, so that other jobs on a shared machine weigh on all three alike.

    mmengine runs its own ``init_weights``: bench.py's classes subclass torchinit's BaseModule,
    which wraps every ``init_weights`` of a subclass in a torchinit run; that is undone here.
    """
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench

    from examples.models import RETINANET_R50_FPN, VIT_L16, build_detector, build_vit

    make = (
        (lambda: build_vit(**VIT_L16)) if case == "vit-l" else (lambda: build_detector(**RETINANET_R50_FPN))
    )
    ours, theirs = make(), bench.to_mmengine(make())
    for cls in {type(m) for m in theirs.modules() if type(m).__name__.startswith("MM")}:
        wrapped = getattr(cls.__dict__.get("init_weights"), "__wrapped__", None)
        cls.init_weights = wrapped if wrapped is not None else bench.MMBaseModule.init_weights
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    jobs = bench.floor_jobs(ours)
    times: dict[str, list[float]] = {"floor": [], "seeded": [], "mmengine": []}
    for _ in range(repeats):
        torch.set_num_threads(1)
        times["floor"].append(_wall(lambda: bench.run_floor(jobs)))
        torch.set_num_threads(threads)
        bench.reset_init_flags(ours)
        times["seeded"].append(_wall(lambda: ours.init_weights(seed=0)))
        bench.reset_init_flags(theirs)
        times["mmengine"].append(_wall(theirs.init_weights))
    return {"case": case, "threads": threads, **{k: min(v) for k, v in times.items()}, "runs": times}


def _wall(fn: Any) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- memory: 2 real ranks
def memory_rank(rank: int, world: int, folder: str, size: str, checkpoint: str | None = None) -> None:
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    import torchinit

    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/store", rank=rank, world_size=world)
    mesh = init_device_mesh("cpu", (world,))
    model = build(size)
    for block in model.blocks:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    base = release_and_reset_peak()
    t0 = time.perf_counter()
    if checkpoint is None:
        torchinit.materialize(model, "cpu", seed=0)
    else:  # every tensor from the file: each rank copies its slice, one checkpoint tensor at a time
        torchinit.materialize(
            model, "cpu", init_cfg=dict(type="Pretrained", checkpoint=checkpoint, strict=True)
        )
    seconds = time.perf_counter() - t0
    peak = peak_since_reset() - base
    shard = sum(p.to_local().numel() * p.element_size() for p in model.parameters())
    result = dict(rank=rank, init_s=seconds, peak_extra_bytes=peak, shard_bytes=shard, ratio=peak / shard)
    Path(folder, f"rank{rank}.json").write_text(json.dumps(result))
    dist.barrier()
    dist.destroy_process_group()


def memory(size: str, world: int = 2, checkpoint: str | None = None) -> list[dict[str, Any]]:
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as folder:
        args = (world, folder, size, checkpoint)
        mp.start_processes(memory_rank, args=args, nprocs=world, join=True, start_method="spawn")
        return [json.loads(Path(folder, f"rank{r}.json").read_text()) for r in range(world)]


def pretrained(size: str, world: int = 2) -> dict[str, Any]:
    """A seeded gpt saved as one .safetensors file, then loaded by ``Pretrained`` on ``world``
    real ranks: each rank's peak RSS against its shard plus the largest checkpoint tensor."""
    from safetensors.torch import save_file

    import torchinit

    with tempfile.TemporaryDirectory() as folder:
        model = build(size)
        torchinit.materialize(model, "cpu", seed=0)
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        largest = max(v.numel() * v.element_size() for v in state.values())
        total = sum(v.numel() * v.element_size() for v in state.values())
        path = str(Path(folder, "gpt.safetensors"))
        save_file(state, path)
        del model, state
        gc.collect()
        ranks = memory(size, world, checkpoint=path)
    return {"checkpoint_bytes": total, "largest_tensor_bytes": largest, "ranks": ranks}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=["1b", "small"], default="1b")
    parser.add_argument(
        "--part",
        choices=["work", "memory", "pretrained", "seeded"],
        action="append",
        help="default: work and memory; seeded needs mmengine (.venv-bench)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "distributed.json")
    args = parser.parse_args()
    parts = set(args.part or ["work", "memory"])
    result: dict[str, Any] = {"torch": torch.__version__, "size": args.size, "cores": os.cpu_count()}
    print(f"gpt-{args.size}, torch {torch.__version__}, {os.cpu_count()} cores")
    if "work" in parts:
        result["work"] = w = work(args.size, args.repeats)
        print(
            f"\nper-rank work, one thread, CPU s (plain normal_ of the whole model: {w['plain_normal_s']:.2f} s)"
        )
        print(f"{'world':>5} {'slowest rank s':>15} {'vs plain':>9}   ranks")
        for world, row in w["worlds"].items():
            ranks = " ".join(f"{s:.2f}" for s in row["ranks_s"])
            print(f"{world:>5} {row['slowest_s']:>15.2f} {row['vs_plain']:>8.2f}x   {ranks}")
    if "seeded" in parts:
        result["seeded"] = rows = [
            seeded(case, max(args.repeats, 7)) for case in ("resnet50-retina", "vit-l")
        ]
        print("\none process, seeded init_weights: minimum of interleaved runs")
        for r in rows:
            print(
                f"  {r['case']}: floor {r['floor']:.3f} s, torchinit seeded {r['seeded']:.3f} s, mmengine "
                f"{r['mmengine']:.3f} s: seeded/floor {r['seeded'] / r['floor']:.2f}x, seeded/mmengine "
                f"{r['seeded'] / r['mmengine']:.2f}x"
            )
    if "memory" in parts:
        result["memory"] = ranks = memory(args.size)
        print("\nmaterialize(seed=0) on 2 real ranks (FSDP2): peak RSS over baseline vs the rank's shard")
        for r in ranks:
            print(
                f"  rank {r['rank']}: {r['init_s']:.2f} s, peak +{r['peak_extra_bytes'] / 2**30:.2f} GiB for a "
                f"{r['shard_bytes'] / 2**30:.2f} GiB shard ({r['ratio']:.3f}x)"
            )
    if "pretrained" in parts:
        result["pretrained"] = pre = pretrained(args.size)
        print(
            f"\nPretrained (a {pre['checkpoint_bytes'] / 2**30:.2f} GiB .safetensors file, largest tensor "
            f"{pre['largest_tensor_bytes'] / 2**20:.0f} MiB) on 2 real ranks (FSDP2): peak RSS over baseline"
        )
        for r in pre["ranks"]:
            bound = r["shard_bytes"] + pre["largest_tensor_bytes"]
            print(
                f"  rank {r['rank']}: {r['init_s']:.2f} s, peak +{r['peak_extra_bytes'] / 2**30:.2f} GiB for a "
                f"{r['shard_bytes'] / 2**30:.2f} GiB shard ({r['ratio']:.3f}x the shard, "
                f"{r['peak_extra_bytes'] / bound:.3f}x shard + largest tensor)"
            )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(f"\nJSON written to {args.json}")


if __name__ == "__main__":
    main()

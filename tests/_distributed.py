"""Running checks on several gloo ranks on this machine, and the small models they use.

:func:`run_ranks` spawns ``world`` processes (one thread each, a gloo group over a file
store, traffic on 127.0.0.1), runs a case function on each and returns what each returned,
read back from files: a result put in a multiprocessing queue can block a rank on a full
pipe while the parent waits for it to exit. It is bounded in time and leaves no process
behind; a rank that raises fails the run with its traceback.

A case returns ``{check: problems}``, a list of problems per named check (empty: passed);
:func:`problems` merges the ranks' lists for one check.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn import functional as F

from torchinit import BaseModule

Checks = dict[str, list[str]]


def _entry(rank: int, world: int, folder: str, case: Callable[..., Checks], args: tuple[Any, ...]) -> None:
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/store", rank=rank, world_size=world)
    try:
        result = case(rank, world, folder, *args)
        torch.save(result, os.path.join(folder, f"rank{rank}.pt"))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def run_ranks(case: Callable[..., Checks], world: int, *args: Any,
              timeout: float = 300.0) -> list[Checks]:
    """Run ``case(rank, world, folder, *args)`` on ``world`` ranks; each rank's checks (a rank
    that has not finished after ``timeout`` seconds fails the run; every process is ended)."""
    with tempfile.TemporaryDirectory() as folder:
        context = mp.start_processes(_entry, args=(world, folder, case, args), nprocs=world, join=False,
                                     start_method="spawn")
        deadline = time.monotonic() + timeout
        try:
            while not context.join(timeout=1.0):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{world} ranks did not finish within {timeout:.0f} s")
        finally:
            for process in context.processes:
                if process.is_alive():
                    process.kill()
                process.join()
        return [torch.load(os.path.join(folder, f"rank{r}.pt"), weights_only=False) for r in range(world)]


def problems(results: list[Checks], check: str) -> list[str]:
    """Every rank's problems for ``check`` (a check no rank ran is a problem too)."""
    if not all(check in r for r in results):
        return [f"check {check!r} did not run on every rank"]
    return [f"rank {rank}: {p}" for rank, r in enumerate(results) for p in r[check]]


# --------------------------------------------------------------------------- models
class Block(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, 4 * dim)
        self.out = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.out(F.gelu(self.fc(self.ln(x))))


class GPT(BaseModule):
    """A GPT-like model (vocab 97, dim 32, depth 2); ``pos`` is left to ``reset_parameters()``
    by the rules below (a random reset on a sharded model)."""

    def __init__(self, init_cfg: Any = None, vocab: int = 97, dim: int = 32, depth: int = 2) -> None:
        super().__init__(init_cfg)
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(16, dim)
        self.blocks = nn.ModuleList([Block(dim) for _ in range(depth)])
        self.head = nn.Linear(dim, vocab, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.tok(idx) + self.pos.weight[: idx.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.head(x)


# torchinit's own fills: TruncNormal (with redraws: std 1 cut to [-1.5, 1.5]), Kaiming, Xavier,
# Orthogonal, Constant; every tensor but pos.weight gets a rule.
GPT_RULES = [
    dict(type="Kaiming", layer="Linear", mode="fan_in", nonlinearity="linear", bias=0,
         override=[dict(name="head", type="Xavier", distribution="uniform"),
                   dict(name="blocks.0.out", type="Orthogonal", bias=0)]),
    dict(type="TruncNormal", std=1.0, a=-1.5, b=1.5, override=dict(name="tok")),
    dict(type="Constant", layer="LayerNorm", val=1, bias=0),
]


def shard_gpt(model: GPT, mesh: Any) -> GPT:
    """torchtitan's FSDP2 recipe: each block, then the root."""
    from torch.distributed.fsdp import fully_shard

    for block in model.blocks:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def full_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer as a whole plain tensor (DTensors gathered)."""
    from torchinit.distributed import is_sharded

    return {name: (t.full_tensor() if is_sharded(t) else t).detach().clone()
            for name, t in [*model.named_parameters(), *model.named_buffers()]}


def differences(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor], what: str) -> list[str]:
    """The names whose tensors are not bitwise equal."""
    return [f"{what}: {name} differs from one process" for name in want
            if name not in got or not torch.equal(got[name], want[name])]

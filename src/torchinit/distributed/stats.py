"""Statistics of whole tensors, whether one process holds them or many ranks hold shards.

The health check judges a tensor by its count, mean, std, range and whether it is finite
and non-zero. For a DTensor these come from every rank's shard (all-reduced over the
mesh, each element counted once: replicated copies count on the first rank of their
Replicate mesh dimensions only); :func:`repeated_shards` finds shards of different parts of
a tensor that hold the same numbers on different ranks, the mark of a random fill that
every rank drew alike. Both are collective: every rank calls them with the same tensors.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import torch
from torch import Tensor

from . import sharded

if TYPE_CHECKING:  # only for the checker (see sharded)
    from torch.distributed.tensor import DTensor

__all__ = ["Stats", "repeated_shards", "sharded_stats", "tensor_stats"]


@dataclass(frozen=True)
class Stats:
    """A tensor's values in numbers: ``n`` elements, their ``mean`` and (unbiased) ``std``,
    ``low``/``high`` (exact in the tensor's dtype), ``finite`` (no NaN/Inf) and ``nonzero``
    (any value other than 0)."""

    n: int
    mean: float
    std: float
    low: float
    high: float
    finite: bool
    nonzero: bool


def _values(t: Tensor) -> Tensor:
    """What the statistics are taken of: the values (a complex tensor: their magnitudes)."""
    return t.abs() if t.is_complex() else t


def tensor_stats(t: Tensor) -> Stats:
    """The statistics of a plain tensor."""
    values = _values(t)
    n = values.numel()
    if n == 0:
        return Stats(0, 0.0, 0.0, math.inf, -math.inf, True, False)
    wide = values.float() if t.is_floating_point() else values.double()
    std, mean = torch.std_mean(wide) if n > 1 else (torch.zeros(()), wide.mean())
    low, high = torch.aminmax(values) if values.dtype != torch.bool else (values.min(), values.max())
    finite = bool(torch.isfinite(values).all()) if values.is_floating_point() else True
    return Stats(n, float(mean), float(std), float(low), float(high), finite, bool(values.any()))


def _counted(t: Tensor) -> bool:
    """Does this rank's shard of ``t`` count (not a copy held on a Replicate mesh dimension)?"""
    dt = cast("DTensor", t)
    coordinate = dt.device_mesh.get_coordinate()
    if coordinate is None:
        return False
    api = sharded._dtensor_api()
    return all(c == 0 for c, p in zip(coordinate, dt.placements) if isinstance(p, api.Replicate))


def _reduce(x: Tensor, op: object, t: Tensor) -> None:
    """All-reduce ``x`` over every dimension of ``t``'s mesh in turn (= over the whole mesh)."""
    import torch.distributed as dist

    mesh = cast("DTensor", t).device_mesh
    for dim in range(mesh.ndim):
        if mesh.size(dim) > 1:
            dist.all_reduce(x, op=op, group=mesh.get_group(dim))


def sharded_stats(t: Tensor) -> Stats:
    """The statistics of the whole of the DTensor ``t`` (collective over its mesh)."""
    import torch.distributed as dist

    values = _values(sharded.local_tensor(t))
    counted = _counted(t) and values.numel() > 0
    sums = torch.zeros(4, dtype=torch.float64)
    bounds = torch.tensor([math.inf, math.inf], dtype=torch.float64)  # (min, -max): one MIN reduce
    if counted:
        wide = values.double()
        sums[0], sums[1] = values.numel(), wide.sum()
        sums[2] = (~torch.isfinite(values)).sum() if values.is_floating_point() else 0
        sums[3] = values.count_nonzero()
        bounds[0], bounds[1] = wide.min(), -wide.max()
    _reduce(sums, dist.ReduceOp.SUM, t)
    _reduce(bounds, dist.ReduceOp.MIN, t)
    n = int(sums[0])
    mean = float(sums[1]) / n if n else 0.0
    spread = torch.zeros(1, dtype=torch.float64)
    if counted:
        spread[0] = (values.double() - mean).square().sum()
    _reduce(spread, dist.ReduceOp.SUM, t)
    std = math.sqrt(float(spread[0]) / (n - 1)) if n > 1 else 0.0
    return Stats(n, mean, std, float(bounds[0]), -float(bounds[1]), int(sums[2]) == 0, int(sums[3]) > 0)


def repeated_shards(named: list[tuple[str, Tensor]]) -> dict[str, list[int]]:
    """Tensors whose shards on different ranks, holding different parts, are bitwise equal.

    Returns ``{name: ranks}`` (the ranks holding one repeated shard). Collective over the
    default process group: every rank passes the same names in the same order.
    """
    import torch.distributed as dist

    api = sharded._dtensor_api()
    mine = []
    for name, t in named:
        local = sharded.local_tensor(t)
        dt = cast("DTensor", t)
        coordinate = dt.device_mesh.get_coordinate()
        if coordinate is None or local.numel() < 2:
            continue
        part = tuple(c for c, p in zip(coordinate, dt.placements) if not isinstance(p, api.Replicate))
        data = local.detach().contiguous().view(torch.uint8).cpu().numpy().tobytes()
        mine.append((name, part, tuple(local.shape), hashlib.blake2b(data, digest_size=16).hexdigest()))
    everyone: list[list[tuple[str, tuple[int, ...], tuple[int, ...], str]] | None]
    everyone = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, mine)
    seen: dict[tuple[str, tuple[int, ...], str], dict[tuple[int, ...], int]] = {}
    repeated: dict[str, list[int]] = {}
    for rank, entries in enumerate(everyone):
        for name, part, shape, digest in entries or ():
            parts = seen.setdefault((name, shape, digest), {})
            parts.setdefault(part, rank)
            if len(parts) > 1:
                repeated[name] = sorted(parts.values())
    return repeated

"""Sharded tensors (``torch.distributed.tensor.DTensor``): which part of the global tensor a
rank holds, and how to write that part without DTensor's own dispatch.

torchinit never runs a random op through DTensor dispatch: on a CPU mesh DTensor has no RNG
tracker, so every rank draws the same numbers for its own shard and a ``generator=`` is
silently dropped (torch 2.13). Instead it writes ``t.to_local()`` directly, knowing from
:func:`local_box` where that local tensor sits in the global one.

For ``Shard(d)`` and ``Replicate()`` placements on any mesh (applied left to right, as
``distribute_tensor`` does) a rank's part is a *box*: an offset and a size per dimension.
Shards split like ``torch.chunk``: ``ceil(size / n)`` each, so the last ranks may get fewer
rows or none. Other layouts (``_StridedShard`` from FSDP2 + TP on one dimension) are not a
box: the whole tensor is made on each rank and ``distribute_tensor(..., src_data_rank=None)``
keeps the local part without communication. ``Partial`` placements and shard orders other
than the default cannot be initialized; :func:`check_layout` says so.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor

from ..errors import InitStateError

if TYPE_CHECKING:  # never imported at run time (about a second, sympy): only for the checker
    from torch.distributed.tensor import DTensor, Shard

__all__ = [
    "Box",
    "check_layout",
    "copy_value",
    "dtensor_type",
    "empty_like",
    "in_use",
    "is_sharded",
    "keep_local",
    "local_box",
    "local_tensor",
]


def _dtensor_api() -> Any:
    """``torch.distributed.tensor`` if it is imported, else None.

    Never imported from here: it takes about a second (it pulls in sympy), and no DTensor can
    exist before it is imported.
    """
    api = sys.modules.get("torch.distributed.tensor")
    return api if api is not None and hasattr(api, "DTensor") else None


def dtensor_type() -> type | None:
    """The DTensor class, or None while ``torch.distributed.tensor`` is not imported (no
    DTensor can exist then): one look-up for a loop over many tensors."""
    api = _dtensor_api()
    return None if api is None else cast(type, api.DTensor)


def in_use() -> bool:
    """Can a DTensor exist in this process (is ``torch.distributed.tensor`` imported)?"""
    return _dtensor_api() is not None


def is_sharded(t: Any) -> bool:
    """Is ``t`` a DTensor (any placements, Replicate included)?"""
    api = _dtensor_api()
    return api is not None and isinstance(t, api.DTensor)


@dataclass(frozen=True)
class Box:
    """The part of a global tensor one rank holds: ``offsets[d]`` and ``sizes[d]`` per dimension."""

    offsets: tuple[int, ...]
    sizes: tuple[int, ...]

    def slices(self) -> tuple[slice, ...]:
        """Index the global tensor with these to get this part."""
        return tuple(slice(o, o + s) for o, s in zip(self.offsets, self.sizes))

    def numel(self) -> int:
        n = 1
        for s in self.sizes:
            n *= s
        return n


def local_tensor(t: Tensor) -> Tensor:
    """The tensor a rank writes for ``t``: its local shard (a DTensor), or ``t`` itself."""
    if not is_sharded(t):
        return t
    local = getattr(t, "_local_tensor", None)  # no autograd node, no dispatch (the guard calls this)
    return local if isinstance(local, Tensor) else cast("DTensor", t).to_local()


def _placement_kinds(t: Any) -> list[str]:
    api = _dtensor_api()
    kinds = []
    for p in t.placements:
        if type(p) is api.Shard:
            kinds.append("shard")
        elif type(p) is api.Replicate:
            kinds.append("replicate")
        elif isinstance(p, api.Partial):
            kinds.append("partial")
        else:
            kinds.append("other")
    return kinds


def check_layout(t: Tensor, name: str) -> None:
    """Raise unless torchinit can write the local part of the DTensor ``t`` (named ``name``)."""
    if not is_sharded(t):
        return
    dt = cast("DTensor", t)
    if "partial" in _placement_kinds(t):
        raise InitStateError(
            f"{name} has placements {tuple(dt.placements)}: a Partial placement holds pending sums, not "
            "values, so it cannot be initialized. Initialize it while it is Replicate or Shard, then "
            "redistribute."
        )
    order = getattr(dt._spec, "shard_order", None)
    is_default = getattr(type(dt._spec), "is_default_device_order", None)
    if order is not None and is_default is not None and not is_default(order):
        raise InitStateError(
            f"{name} is sharded in a non-default mesh order ({order}); torchinit initializes "
            "placements applied left to right. Initialize it before redistributing it to that order."
        )


def local_box(t: Tensor) -> Box | None:
    """Where ``t.to_local()`` sits in the global tensor; None when it is not a box (see module doc)."""
    kinds = _placement_kinds(t)
    if any(k not in ("shard", "replicate") for k in kinds):
        return None
    dt = cast("DTensor", t)
    mesh = dt.device_mesh
    coordinate = mesh.get_coordinate()
    shape = tuple(t.shape)
    offsets, sizes = [0] * len(shape), list(shape)
    if coordinate is None:  # this rank is not in the mesh: distribute_tensor knows what it holds
        return None
    for mesh_dim, (kind, placement) in enumerate(zip(kinds, dt.placements)):
        if kind != "shard":
            continue
        dim = cast("Shard", placement).dim % len(shape)
        parts = mesh.size(mesh_dim)
        chunk = -(-sizes[dim] // parts)
        start = min(coordinate[mesh_dim] * chunk, sizes[dim])
        offsets[dim] += start
        sizes[dim] = min(chunk, sizes[dim] - start)
    box = Box(tuple(offsets), tuple(sizes))
    return box if tuple(local_tensor(t).shape) == box.sizes else None


def keep_local(full: Tensor, t: Tensor) -> Tensor:
    """The part of ``full`` (a plain tensor of ``t``'s global shape) that this rank holds of ``t``."""
    box = local_box(t)
    if box is not None:
        return full[box.slices()]
    api = _dtensor_api()
    full = full.to(device=t.device, dtype=t.dtype)
    dt = cast("DTensor", t)
    return api.distribute_tensor(full, dt.device_mesh, dt.placements, src_data_rank=None).to_local()


def copy_value(t: Tensor, value: Tensor) -> None:
    """``t.copy_(value)`` for a global ``value``: a DTensor copies only its own part."""
    if is_sharded(t):
        local_tensor(t).copy_(keep_local(value, t))
    else:
        t.copy_(value)


def empty_like(t: Tensor, device: torch.device, dtype: torch.dtype) -> Tensor:
    """Uninitialized memory for ``t`` on ``device``: for a DTensor, its local shard only."""
    if is_sharded(t):
        return torch.empty_like(t, device=device, dtype=dtype)
    return torch.empty(t.shape, device=device, dtype=dtype)

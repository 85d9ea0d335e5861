"""One planned fill as pieces of work: bands of one tensor, or of one rank's shard of it.

The transaction (:mod:`torchinit._txn`) performs a fill by running its pieces: on the
calling thread, or, for seeded fills, on its thread pool, so that one big tensor is filled
by every core. What each piece writes follows the band scheme (:mod:`.bands`):

* unseeded, or not random: the initializer's own ``fill`` on the tensor, as always (on a
  DTensor only elementwise constants; a random fill without a seed is refused);
* seeded, one band, or an initializer that is not elementwise: the whole tensor from one
  generator seeded ``derive_seed(seed, name)``; a DTensor draws the whole tensor on its
  rank and keeps its part (one such tensor at a time: ``Piece.parallel`` is False);
* seeded and elementwise over several bands: one piece per group of bands, each band from
  its own generator; a DTensor draws only the bands its shard overlaps, into its shard.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import torch
from torch import Tensor

from ..errors import ConfigValueError, InitStateError
from ..initializers import describe_initializer
from . import sharded
from .bands import BandGrid, Draw, band_draw

if TYPE_CHECKING:  # only for the checker (see sharded)
    from torch.distributed.tensor import DTensor

__all__ = [
    "BATCH_ELEMENTS",
    "PIECE_ELEMENTS",
    "Draws",
    "Piece",
    "batches",
    "check_fill",
    "check_op",
    "fill_pieces",
    "run_all",
]

# Elements per piece of a banded fill: big enough that scheduling costs nothing (a few µs per
# ~1 ms piece), small enough that two threads finish one big tensor together.
PIECE_ELEMENTS = 1 << 20

# Pieces smaller than this run in batches of about this cost: one task each would cost more in
# scheduling than the fill itself (a norm layer's weight, a bias). Small enough (~0.3 ms of
# normal_) that the threads, taking the largest tasks first, end within that of each other.
BATCH_ELEMENTS = 1 << 16
# What a piece costs beyond its elements, in elements (~15 µs of Python per fill: generator,
# checks, dispatch): a batch of a hundred biases is not free.
PIECE_OVERHEAD = 1 << 12

T = TypeVar("T")

Generators = Callable[[], "torch.Generator | None"]


@dataclass
class Piece:
    """Part of one write. ``elements``: its size (the pool runs the largest first);
    ``parallel``: it may run beside other pieces (False when it holds a whole tensor)."""

    elements: int
    run: Callable[[], Any]
    parallel: bool = True


def _placements(t: Tensor) -> str:
    return f"a DTensor with placements {tuple(cast('DTensor', t).placements)}"


def check_fill(init: Any, tensor: Tensor, seed: int | None, name: str) -> None:
    """Raise, before anything is written, if ``init`` cannot fill the sharded ``tensor``."""
    if not sharded.is_sharded(tensor):
        return
    sharded.check_layout(tensor, name)
    if seed is None and getattr(init, "random", True):
        raise ConfigValueError(
            f"{name} is {_placements(tensor)} and {describe_initializer(init)} draws random numbers, but "
            "no seed was given. Without one each rank would draw from its own global generator and the "
            "shards would not form one tensor. Pass seed=... (the same on every rank)."
        )


def check_op(func: Any, tensor: Tensor, name: str, who: str) -> None:
    """Raise if ``func`` (an op of user code, run by ``who``) draws random numbers into a DTensor."""
    if sharded.is_sharded(tensor) and torch.Tag.nondeterministic_seeded in getattr(func, "tags", ()):
        raise InitStateError(
            f"{who} draws random numbers into {name} ({func}), which is {_placements(tensor)}. DTensor's "
            "random ops do not give one consistent tensor (on a CPU mesh every rank draws the same numbers "
            "for its own shard). Set it with an init_cfg rule (e.g. dict(type='Normal', std=0.02, "
            "layer=...)), which torchinit fills shard by shard with a seed, or initialize before sharding."
        )


Draws = dict[tuple[int, tuple[int, ...]], tuple[Any, "Draw | None"]]
"""Band draws made for a transaction, by (initializer, global shape): one per kind of tensor."""


def fill_pieces(
    init: Any, tensor: Tensor, seed: int | None, name: str, whole: Generators, draws: Draws | None = None
) -> list[Piece]:
    """The pieces that fill ``tensor`` (plain or DTensor) with ``init`` under ``seed``.

    ``whole()`` makes the generator of a whole-tensor draw (seeded ``derive_seed(seed, name)``;
    None unseeded); ``draws`` keeps each band draw made, for the next tensor of the same shape
    and initializer. Call :func:`check_fill` first.
    """
    shape = tuple(tensor.shape)
    random = getattr(init, "random", True)
    if not sharded.is_sharded(tensor):
        draw = _draw_of(init, shape, draws) if not random else None
        if draw is not None:  # a constant: its draw checks the value once per dtype, not per tensor
            return [Piece(tensor.numel(), functools.partial(draw, tensor, None, 0))]
        if not random or seed is None:
            return [Piece(tensor.numel(), functools.partial(init.fill, tensor, generator=None))]
        grid = BandGrid.of(shape)
        draw = _draw_of(init, shape, draws) if grid.count > 1 else None
        if draw is None:
            return [Piece(tensor.numel(), lambda: init.fill(tensor, generator=whole()))]
        return _band_pieces(draw, grid, seed, name, tensor, sharded.Box((0,) * len(shape), shape))
    local = sharded.local_tensor(tensor)
    draw = _draw_of(init, shape, draws)
    if not random and draw is not None:  # a constant: every part is the same
        return [Piece(local.numel(), functools.partial(draw, local, None, 0))]
    grid = BandGrid.of(shape)
    box = sharded.local_box(tensor)
    if draw is None or grid.count == 1 or box is None:
        run = functools.partial(_whole, init, draw, grid, seed, name, tensor, whole)
        return [Piece(tensor.numel(), run, parallel=False)]
    return _band_pieces(draw, grid, cast(int, seed), name, local, box)  # check_fill refused unseeded


def _draw_of(init: Any, shape: tuple[int, ...], draws: Draws | None) -> Draw | None:
    """``band_draw(init, shape)``, made once per initializer and shape when ``draws`` is given
    (it holds the initializer, so its id stays its own)."""
    if draws is None:
        return band_draw(init, shape)
    found = draws.get((id(init), shape))
    if found is None:
        found = draws[(id(init), shape)] = (init, band_draw(init, shape))
    return found[1]


def _whole(
    init: Any,
    draw: Draw | None,
    grid: BandGrid,
    seed: int | None,
    name: str,
    tensor: Tensor,
    whole: Generators,
) -> None:
    """Make the whole tensor on this rank as one process would, and keep this rank's part."""
    local = sharded.local_tensor(tensor)
    full = torch.empty(grid.shape, dtype=local.dtype, device=local.device)
    if draw is None or grid.count == 1 or seed is None:
        init.fill(full, generator=whole())
    else:
        _draw_bands(
            draw, grid, seed, name, full, sharded.Box((0,) * len(grid.shape), grid.shape), range(grid.count)
        )
    local.copy_(sharded.keep_local(full, tensor))


def _band_pieces(
    draw: Draw, grid: BandGrid, seed: int, name: str, local: Tensor, box: sharded.Box
) -> list[Piece]:
    if box.numel() == 0:
        return []
    bands = grid.overlapping(box.offsets[0], box.offsets[0] + box.sizes[0])
    band_size = grid.band_rows * grid.row_size
    per_piece = max(1, PIECE_ELEMENTS // max(band_size, 1))
    groups = (bands[i : i + per_piece] for i in range(0, len(bands), per_piece))
    return [
        Piece(
            len(group) * band_size, functools.partial(_draw_bands, draw, grid, seed, name, local, box, group)
        )
        for group in groups
    ]


def _draw_bands(
    draw: Draw, grid: BandGrid, seed: int, name: str, local: Tensor, box: sharded.Box, bands: range
) -> None:
    """Fill ``local`` (the part ``box`` of the global tensor) where it overlaps ``bands``.

    A band wholly inside the part, and contiguous there, is drawn in place; any other is drawn
    into one scratch band (its full rows: the values must not depend on the split) and the
    overlap copied.
    """
    r0, r1 = box.offsets[0], box.offsets[0] + box.sizes[0]
    whole_rows = box.sizes[1:] == grid.shape[1:]
    scratch: Tensor | None = None
    generator = torch.Generator(device=local.device)  # reseeded per band: as a new one seeded so
    for k in bands:
        b0, b1 = grid.rows_of(k)
        a0, a1 = max(b0, r0), min(b1, r1)
        generator.manual_seed(grid.seed(seed, name, k))
        target = local[a0 - r0 : a1 - r0]
        if (a0, a1) == (b0, b1) and whole_rows and target.is_contiguous():
            draw(target, generator, b0)
            continue
        if scratch is None:
            scratch = torch.empty(grid.band_rows * grid.row_size, dtype=local.dtype, device=local.device)
        band = scratch[: (b1 - b0) * grid.row_size].view((b1 - b0, *grid.shape[1:]))
        draw(band, generator, b0)
        index = (slice(a0 - b0, a1 - b0), *box.slices()[1:])
        target.copy_(band[index])


def batches(items: Sequence[T], size: Callable[[T], int]) -> list[list[T]]:
    """``items`` (pieces, or writes) as tasks for :func:`run_all`: largest first, each item of
    at least ``BATCH_ELEMENTS`` elements alone, smaller ones together in batches of about that
    cost (``PIECE_OVERHEAD`` counted for each)."""
    tasks: list[list[T]] = []
    batch: list[T] = []
    cost = 0
    for item in sorted(items, key=lambda item: -size(item)):
        elements = size(item)
        if elements >= BATCH_ELEMENTS:
            tasks.append([item])
            continue
        batch.append(item)
        cost += elements + PIECE_OVERHEAD
        if cost >= BATCH_ELEMENTS:
            tasks.append(batch)
            batch, cost = [], 0
    return [*tasks, batch] if batch else tasks


def run_all(
    tasks: Iterable[Callable[[], Any]], threads: int, light: Iterable[Callable[[], Any]] = ()
) -> None:
    """Run every task on ``threads`` threads: the calling thread and ``threads - 1`` others,
    each taking the next task as soon as it is free (no thread idles while a task waits).

    ``tasks`` may be a generator: it is advanced by one thread at a time, so the work it does
    to make a task overlaps the tasks already running. ``light`` are tasks of little numeric
    work (many tiny fills: mostly Python, which holds the GIL): the calling thread runs them
    first while the others fill big tensors, instead of all threads passing the GIL back and
    forth over them at the end; any thread takes them once ``tasks`` is empty. Raises the
    first exception a task (or a generator) raised, after every task has run."""
    heavy, small = iter(tasks), iter(light)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def drain(sources: tuple[Iterator[Callable[[], Any]], ...]) -> None:
        while True:
            task = None
            with lock:
                for source in sources:
                    try:
                        task = next(source, None)
                    except BaseException as exc:  # a generator that raised is finished
                        errors.append(exc)
                    if task is not None:
                        break
            if task is None:
                return
            try:
                task()
            except BaseException as exc:  # raised by the calling thread once all are done
                errors.append(exc)

    helpers = [
        threading.Thread(target=drain, args=((heavy, small),), name=f"torchinit-fill-{i}", daemon=True)
        for i in range(threads - 1)
    ]
    for helper in helpers:
        helper.start()
    try:
        drain((small, heavy))
    finally:
        for helper in helpers:
            helper.join()
    if errors:
        raise errors[0]

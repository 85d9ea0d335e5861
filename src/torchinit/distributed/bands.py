"""The band seed scheme: a tensor's seeded values, defined band by band from its global shape.

A tensor is cut along its first dimension into *bands* of whole rows (a row is one index of
dimension 0 with everything after it: a Linear weight's output row, a conv's output
channel; a 1-d tensor's rows are single elements; a 0-d tensor is one row). The number of
rows per band depends on the global shape only::

    rows per band = max(1, band_elements // row_size)       band_elements = 2**18

so a band holds at most 2**18 elements (1 MiB of float32) unless one row is larger. Band
``k`` is drawn, contiguous and row-major, by its own generator seeded with::

    derive_seed(seed, name)                         when the tensor is one band
    derive_seed(seed, f"{name}\\0band\\0{k}")          otherwise

A tensor of one band therefore keeps exactly the values ``init_weights(seed=...)`` gave it
before bands existed. Whoever holds a part of the tensor (a rank's shard, a thread's share
of one big tensor in one process) draws the bands that part overlaps and keeps the overlap,
so the values do not depend on how the tensor is split. Fans and every other scale come
from the global shape.

Only elementwise initializers can be drawn band by band: those whose values are
independent draws from one distribution (:func:`band_draw` knows which). The others
(orthogonal, sparse, eye, Dirac, delta-orthogonal, your own) draw the whole tensor with
``derive_seed(seed, name)``, as before; a rank keeps its slice of it.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .. import functional as F
from .._core_fills import _constant_args, _normal_args, _uniform_args, in_place
from ..errors import ConfigValueError
from ..registry import describe_value

__all__ = [
    "BAND_ELEMENTS",
    "SCHEME",
    "BandGrid",
    "Draw",
    "band_draw",
    "band_elements",
    "band_size",
    "describe_scheme",
]

SCHEME = "bands-v1"
BAND_ELEMENTS = 1 << 18  # 1 MiB of float32: L2-sized, and little waste at a shard boundary

# The band size in force; only tests change it (band_size), to make small tensors cross bands.
_elements = BAND_ELEMENTS

Draw = Callable[[Tensor, "torch.Generator | None", int], Any]
"""Fills one contiguous band in place: ``draw(band, generator, first_row)``; ``first_row`` is
the band's first row in the global tensor (EmbeddingNormal zeroes its padding row there).
Random draws get the band's generator; a constant's gets None."""


def derive_seed(seed: int, name: str) -> int:
    """The seed of one tensor's own generator: a stable hash of (seed, qualified name)."""
    digest = hashlib.blake2b(f"{seed}\x00{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def band_elements() -> int:
    """Elements per band of the scheme in force (``BAND_ELEMENTS`` outside tests)."""
    return _elements


@contextmanager
def band_size(elements: int) -> Iterator[None]:
    """Use bands of ``elements`` elements inside the block (tests: small tensors cross bands).

    Values drawn inside differ from those of the default size for every tensor larger than
    one band; a run and the runs it is compared with must use the same size.
    """
    global _elements
    if isinstance(elements, bool) or not isinstance(elements, int) or elements < 1:
        raise ConfigValueError(f"band_size: elements must be a positive int, got {describe_value(elements)}.")
    before, _elements = _elements, elements
    try:
        yield
    finally:
        _elements = before


def describe_scheme() -> dict[str, Any]:
    """The seed scheme in force, for reports and reproducibility records."""
    return {
        "name": SCHEME,
        "band_elements": _elements,
        "bands": "whole rows of dimension 0; rows per band = max(1, band_elements // row size)",
        "seeds": "derive_seed(seed, name) for a tensor of one band, "
        "else derive_seed(seed, name + '\\0band\\0' + k)",
    }


@dataclass(frozen=True)
class BandGrid:
    """How one tensor of global shape ``shape`` is cut into bands.

    Attributes:
        shape: the global shape.
        rows: its rows (``shape[0]``; 1 for a 0-d tensor).
        row_size: elements per row (the product of ``shape[1:]``).
        band_rows: rows per band (the last band may have fewer).
        count: the number of bands (at least 1).
    """

    shape: tuple[int, ...]
    rows: int
    row_size: int
    band_rows: int
    count: int

    @classmethod
    def of(cls, shape: tuple[int, ...] | torch.Size) -> BandGrid:
        return _grid(tuple(shape), _elements)

    def rows_of(self, k: int) -> tuple[int, int]:
        """``(start, stop)``: the rows of band ``k``."""
        return k * self.band_rows, min(self.rows, (k + 1) * self.band_rows)

    def overlapping(self, start: int, stop: int) -> range:
        """The bands that hold any of the rows ``[start, stop)``."""
        if stop <= start:
            return range(0)
        return range(start // self.band_rows, (stop - 1) // self.band_rows + 1)

    def seed(self, seed: int, name: str, k: int) -> int:
        """The seed of band ``k``'s generator (see the module docstring)."""
        return derive_seed(seed, name if self.count == 1 else f"{name}\x00band\x00{k}")


@functools.lru_cache(maxsize=4096)
def _grid(shape: tuple[int, ...], elements: int) -> BandGrid:
    """The grid of ``shape`` with bands of ``elements`` (a model has few distinct shapes)."""
    shape = tuple(int(s) for s in shape)
    rows = shape[0] if shape else 1
    row_size = math.prod(shape[1:])
    band_rows = max(1, elements // max(row_size, 1))
    count = max(1, -(-rows // band_rows))
    return BandGrid(shape, rows, row_size, band_rows, count)


# --------------------------------------------------------------------------- elementwise draws
def _direct(method: str, args_of: Callable[[torch.dtype], tuple[Any, ...]]) -> Draw:
    """``band.<method>(*args, generator=...)``, the op torchinit's ``normal_``/``uniform_``
    perform (``fill_``, for a constant, takes no generator), with ``args_of(dtype)`` (their
    checks, which raise as they do) run once per dtype instead of once per band or tensor,
    and grad mode left alone when the caller has already turned it off (the transaction runs
    every piece under ``no_grad``): a big tensor has dozens of bands, a model a hundred norm
    weights and biases, and those two cost more than filling a small one."""
    checked: dict[torch.dtype, tuple[Any, ...]] = {}
    random = method != "fill_"

    def draw(band: Tensor, generator: torch.Generator | None, first_row: int) -> None:
        args = checked.get(band.dtype)
        if args is None:
            args = checked[band.dtype] = args_of(band.dtype)
        if random:
            in_place(getattr(band, method), *args, generator=generator)
        else:
            in_place(getattr(band, method), *args)

    return draw


def _fill_draw(init: Any) -> Draw:
    """The initializer's own fill: its values do not depend on the tensor's shape."""
    from ..initializers import Constant, Normal, Uniform

    if isinstance(init, Constant):  # its fill is Constant's (see _kind): F.constant_(val)
        return _direct("fill_", lambda dtype: (_constant_args(dtype, init.val),))
    if isinstance(init, Normal):  # its fill is Normal's (see _kind): F.normal_(mean, std)
        return _direct("normal_", lambda dtype: _normal_args(dtype, init.mean, init.std))
    if isinstance(init, Uniform):
        return _direct("uniform_", lambda dtype: _uniform_args(dtype, init.a, init.b))
    return lambda band, generator, first_row: init.fill(band, generator=generator)


def _embedding_draw(init: Any, shape: tuple[int, ...]) -> Draw:
    """N(mean, std²), with the padding row (a global index) set to 0 in the band holding it."""
    padding = init.padding_idx
    if padding is not None and padding < 0:
        padding += shape[0]

    def draw(band: Tensor, generator: torch.Generator | None, first_row: int) -> None:
        F.normal_(band, init.mean, init.std, generator=generator)
        if padding is not None and first_row <= padding < first_row + band.shape[0]:
            band[padding - first_row].zero_()

    return draw


def _scaled_draw(gain: float, mode: str, distribution: str, shape: tuple[int, ...]) -> Draw:
    """Zero-mean values of std ``gain / √fan``, the fan taken from the global ``shape``."""
    from ..diagnostics._promises import fan_of

    fan = fan_of(shape, mode)
    std = abs(gain) / math.sqrt(fan) if fan else 0.0
    if distribution == "normal":  # as F.normal_(band, 0.0, std)
        return _direct("normal_", lambda dtype: _normal_args(dtype, 0.0, std))
    if distribution == "uniform":  # as F.uniform_(band, -bound, bound)
        bound = math.sqrt(3.0) * std
        return _direct("uniform_", lambda dtype: _uniform_args(dtype, -bound, bound))
    return lambda band, generator, first_row: F.trunc_normal_tf_(
        band, 0.0, std, -2.0, 2.0, corrected=True, generator=generator
    )


def band_draw(init: Any, shape: tuple[int, ...] | torch.Size) -> Draw | None:
    """How ``init`` fills one band of a tensor of global ``shape``; None if it cannot.

    Elementwise initializers of torchinit (and subclasses that keep their ``fill``): the
    constants, Normal, Uniform, TruncNormal, TruncNormalTF, DepthScaledNormal and
    EmbeddingNormal; the variance-scaling family (Xavier, Kaiming, Caffe2Xavier,
    VarianceScaling, LeCunNormal, LeCunUniform) with fans from ``shape``. None for the
    rest: structural fills, custom initializers, functions.
    """
    shape = tuple(shape)
    kind = _kind(type(init))  # type: ignore[arg-type]  # mypy checks a class's own __hash__ for the type object
    if kind == "embedding":
        return _embedding_draw(init, shape)
    if kind == "fill":
        return _fill_draw(init)
    if kind == "scaled" and len(shape) >= 2:
        from ..diagnostics._promises import scaling_of

        scaling = scaling_of(init)
        assert scaling is not None
        return _scaled_draw(*scaling, shape)
    return None


@functools.cache
def _kind(cls: type) -> str | None:
    """How instances of ``cls`` are drawn by bands: ``'fill'`` (their own fill, which does not
    depend on the shape), ``'embedding'``, ``'scaled'`` (variance scaling), or None (not at all).
    A subclass counts as its base only if it keeps the base's ``fill``."""
    from ..diagnostics._promises import _SCALINGS
    from ..initializers import (
        Constant,
        DepthScaledNormal,
        EmbeddingNormal,
        Normal,
        TruncNormal,
        TruncNormalTF,
        Uniform,
    )

    kinds: list[tuple[type, str]] = [
        (base, "fill") for base in (Constant, Normal, Uniform, TruncNormal, TruncNormalTF, DepthScaledNormal)
    ]
    kinds += [(EmbeddingNormal, "embedding"), *((base, "scaled") for base in _SCALINGS)]
    for base, kind in kinds:
        if issubclass(cls, base) and getattr(cls, "fill", None) is getattr(base, "fill", None):
            return kind
    return None

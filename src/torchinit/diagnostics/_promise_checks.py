"""Promises about more than numbers: orthogonal matrices, zeros per column, a padding row,
exact values, and what PyTorch's own layers write in ``reset_parameters()``.

:class:`Promise` is what :func:`torchinit.diagnostics._promises.promise_of` returns; the builders here
give the promises of ``Orthogonal``, ``DeltaOrthogonal``, ``Sparse``, ``EmbeddingNormal``,
the deterministic fills and ``TorchDefault``, each with the ``check`` that tests its structure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from .. import functional as F
from .._fills import _sparse_args
from ..initializers import EmbeddingNormal

__all__ = [
    "Check",
    "Promise",
    "delta_orthogonal",
    "embedding",
    "exact",
    "gain_text",
    "orthogonal",
    "sparse",
    "torch_default",
]

#: Problems in a tensor that its promise's ``check`` finds; None when it keeps the promise.
Check = Callable[[Tensor], "str | None"]


@dataclass(frozen=True)
class Promise:
    """What a rule promises about a tensor's values.

    ``constant`` means every value equals ``mean``; ``exact`` that the values are fully
    given and only ``check`` compares them; otherwise the values are drawn with this mean
    and std, inside ``[low, high]``. ``check`` (if any) tests what the numbers above do not
    say (an orthogonal matrix, a zero padding row) and returns what is wrong, or None.
    ``zeros_ok``: an all-zero tensor keeps the promise. ``text`` says where the std comes from.
    """

    mean: float
    std: float
    low: float = -math.inf
    high: float = math.inf
    constant: bool = False
    text: str = ""
    check: Check | None = field(default=None, compare=False, repr=False)
    exact: bool = False
    zeros_ok: bool = False

    @property
    def allows_zero(self) -> bool:
        """Can an all-zero tensor keep this promise?"""
        return self.zeros_ok or self.exact or (self.mean == 0 and (self.constant or self.std == 0))


def _with_zeros(mean: float, std: float, zeros: float) -> tuple[float, float]:
    """Mean and std of values that are 0 with probability ``zeros``, else drawn with mean and std."""
    kept = 1.0 - zeros
    m = kept * mean
    return m, math.sqrt(max(kept * (std * std + mean * mean) - m * m, 0.0))


# --------------------------------------------------------------------------- structure checks
def gain_text(gain: float) -> str:
    """``'2*'`` for a gain of 2 in a formula; nothing for 1."""
    return "" if gain == 1 else f"{gain:g}*"


def _tolerance(t: Tensor, scale: float) -> float:
    """Rounding slack for sums of products of ``t``'s values, relative to ``scale``."""
    eps = torch.finfo(t.dtype).eps if t.is_floating_point() else 0.0
    return scale * max(1e-9, 64 * eps)


def _gram_check(gain: float, what: str, pick: Callable[[Tensor], Tensor]) -> Check:
    """``pick(t)`` (a matrix) has orthonormal rows or columns (whichever are fewer), times ``gain``."""

    def check(t: Tensor) -> str | None:
        w = pick(t).double()
        gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
        error = float((gram - gain * gain * torch.eye(gram.shape[0], dtype=gram.dtype)).abs().max())
        if error <= _tolerance(t, gain * gain):
            return None
        return f"{what} is not {gain_text(gain)}orthogonal: W Wᵀ differs from {gain * gain:g}·I by up to {error:.3g}."

    return check


def orthogonal(i: Any, s: tuple[int, ...]) -> Promise:
    rows, cols = s[0], math.prod(s[1:])
    std = abs(i.gain) / math.sqrt(max(rows, cols))
    check = _gram_check(i.gain, "the matrix", lambda t: t.reshape(t.shape[0], -1))
    return Promise(
        0.0,
        std,
        -abs(i.gain),
        abs(i.gain),
        constant=i.gain == 0,
        text=f"|gain|/sqrt(max(rows, cols)) = {std:.4g}, W Wᵀ = gain²·I",
        check=check,
    )


def delta_orthogonal(i: Any, s: tuple[int, ...]) -> Promise:
    taps = math.prod(s[2:])
    std = abs(i.gain) / math.sqrt(s[0] * taps)

    def centre(t: Tensor) -> tuple[Any, ...]:
        return (slice(None), slice(None), *(k // 2 for k in t.shape[2:]))

    gram = _gram_check(i.gain, "the centre tap", lambda t: t[centre(t)])

    def check(t: Tensor) -> str | None:
        rest = t.detach().clone()
        rest[centre(t)] = 0
        if bool(rest.any()):
            return f"{int(rest.count_nonzero())} values off the kernel centre are not zero."
        return gram(t)

    return Promise(
        0.0,
        std,
        -abs(i.gain),
        abs(i.gain),
        constant=i.gain == 0,
        text=f"orthogonal centre tap, zeros elsewhere: std {std:.4g}",
        check=check,
    )


def sparse(i: Any, s: tuple[int, ...]) -> Promise:
    zeros, std = _sparse_args(torch.float64, s, i.sparsity, i.std)
    mean, spread = _with_zeros(0.0, std, zeros / s[0])

    def check(t: Tensor) -> str | None:
        short = int(((t == 0).sum(dim=0) < zeros).sum())
        return f"{short} column(s) have fewer than {zeros} zeros." if short else None

    return Promise(
        mean,
        spread,
        zeros_ok=zeros == s[0] or std == 0,
        check=check,
        text=f"std {std:g} with {zeros} of {s[0]} zeros per column",
    )


def embedding(i: Any, s: tuple[int, ...]) -> Promise:
    row = None if i.padding_idx is None or not s else i.padding_idx % s[0]
    mean, std = _with_zeros(i.mean, i.std, (1 / s[0]) if row is not None else 0.0)

    def check(t: Tensor) -> str | None:
        return None if row is None or not bool(t[row].any()) else f"the padding row {row} is not zero."

    padding = f", padding row {row} zero" if row is not None else ""
    return Promise(
        mean, std, constant=i.std == 0 and row is None, check=check, text=f"std {i.std:g}{padding}"
    )


def exact(init: Any) -> Promise:
    """A deterministic fill: the tensor must hold exactly what ``init`` writes into one of its shape."""

    def check(t: Tensor) -> str | None:
        expected = init.fill(torch.empty_like(t))
        if torch.equal(t, expected):
            return None
        return (
            f"{int((t != expected).sum())} of {t.numel()} values differ from what {init.describe()} writes."
        )

    return Promise(0.0, 0.0, exact=True, check=check, text="exact values")


def _layer_uniform(module: nn.Module) -> Promise | None:
    """``reset_parameters()`` of Linear and conv layers: U(±1/sqrt(fan_in)), weight and bias alike."""
    weight = getattr(module, "weight", None)
    if not isinstance(weight, Tensor) or weight.dim() < 2:
        return None
    fan_in = F.compute_fans(tuple(weight.shape))[0]
    if fan_in == 0:
        return None
    bound = 1 / math.sqrt(fan_in)
    return Promise(
        0.0, bound / math.sqrt(3), -bound, bound, text=f"1/sqrt(3·fan_in) = {bound / math.sqrt(3):.4g}"
    )


_NORMS = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase, getattr(nn, "RMSNorm", nn.LayerNorm))
_NORM_VALUES = {
    "weight": 1.0,
    "bias": 0.0,
    "running_mean": 0.0,
    "running_var": 1.0,
    "num_batches_tracked": 0.0,
}


def torch_default(module: nn.Module, attr: str, shape: tuple[int, ...]) -> Promise | None:
    """What PyTorch's ``reset_parameters()`` of ``module`` writes into ``attr`` (its own layers only)."""
    if isinstance(module, (nn.Linear, nn.Bilinear, nn.modules.conv._ConvNd)) and attr in ("weight", "bias"):
        return _layer_uniform(module)
    if isinstance(module, nn.Embedding) and attr == "weight":
        return embedding(EmbeddingNormal(std=1.0, padding_idx=module.padding_idx), shape)
    if isinstance(module, _NORMS) and attr in _NORM_VALUES:
        value = _NORM_VALUES[attr]
        return Promise(value, 0.0, constant=True, text=f"every value {value:g}")
    return None

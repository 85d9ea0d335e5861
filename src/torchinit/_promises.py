"""What a rule promises about the values it writes: mean, std, range, one constant, or exact values.

:func:`promise_of` reads the provenance record of a tensor (its initializer object, or the
rule's ``describe()`` text, or a bias constant) and says how the values of that tensor are
distributed: ``Kaiming(mode='fan_out', nonlinearity='relu')`` on a conv of fan_out 784
promises mean 0 and std ``sqrt(2/784)``; ``Orthogonal(gain=2)`` also ``W Wᵀ = 4·I``;
``EmbeddingNormal`` a zero padding row; a deterministic fill (``Eye``, ``Dirac``, ``Arange``,
``FromModule``) exactly what it writes. The health check compares.

Every initializer of torchinit's catalogue has an entry here (the tests check it): a promise,
or a sentence in :data:`NO_PROMISE` saying why it can have none (``Pretrained``: the values
are the checkpoint's).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from . import functional as F
from ._fills import _sparse_args
from .errors import ConfigError
from .initializers import (
    WEIGHT_INITIALIZERS,
    Caffe2Xavier,
    Constant,
    DeltaOrthogonal,
    DepthScaledNormal,
    EmbeddingNormal,
    Kaiming,
    LeCunNormal,
    LeCunUniform,
    Normal,
    Orthogonal,
    Pretrained,
    Sparse,
    TruncNormal,
    TruncNormalTF,
    Uniform,
    VarianceScaling,
    Xavier,
)
from .report import ParamRecord

__all__ = ["NO_PROMISE", "Promise", "fan_of", "has_promise", "promise_of", "scaling_of"]

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


def _truncnormal(mean: float, std: float, a: float, b: float) -> tuple[float, float]:
    """Mean and std of N(mean, std²) truncated to [a, b]."""
    if std == 0:
        return min(max(mean, a), b), 0.0
    alpha, beta = (a - mean) / std, (b - mean) / std
    pdf = [math.exp(-x * x / 2) / math.sqrt(2 * math.pi) if math.isfinite(x) else 0.0 for x in (alpha, beta)]
    mass = 0.5 * (math.erfc(-beta / math.sqrt(2)) - math.erfc(-alpha / math.sqrt(2)))
    if mass <= 0:
        return (a if alpha > 0 else b), 0.0
    shift = (pdf[0] - pdf[1]) / mass
    edge = (
        (alpha * pdf[0] if math.isfinite(alpha) else 0.0) - (beta * pdf[1] if math.isfinite(beta) else 0.0)
    ) / mass
    return mean + std * shift, std * math.sqrt(max(1 + edge - shift * shift, 0.0))


def _with_zeros(mean: float, std: float, zeros: float) -> tuple[float, float]:
    """Mean and std of values that are 0 with probability ``zeros``, else drawn with mean and std."""
    kept = 1.0 - zeros
    m = kept * mean
    return m, math.sqrt(max(kept * (std * std + mean * mean) - m * m, 0.0))


def fan_of(shape: tuple[int, ...], mode: str) -> float:
    """The fan a variance-scaling rule divides by: fan_in, fan_out, their mean or geometric mean."""
    fan_in, fan_out = F.compute_fans(shape)
    return {
        "fan_in": fan_in,
        "fan_out": fan_out,
        "fan_avg": (fan_in + fan_out) / 2,
        "fan_geo_avg": math.sqrt(fan_in * fan_out),
    }[mode]


def _scaled(shape: tuple[int, ...], gain: float, mode: str, distribution: str, formula: str) -> Promise:
    """Zero mean, std ``gain / sqrt(fan)``; the range of the uniform or the ±2-std truncated normal."""
    fan_in, fan_out = F.compute_fans(shape)
    fan = fan_of(shape, mode)
    std = gain / math.sqrt(fan)
    bound = math.inf
    if distribution == "uniform":
        bound = math.sqrt(3.0) * std
    elif distribution == "truncated_normal":
        bound = 2 * std / F.truncated_normal_std(-2.0, 2.0)
    fans = f"fan_in={fan_in}, fan_out={fan_out}" if mode in ("fan_avg", "fan_geo_avg") else f"{mode}={fan:g}"
    return Promise(0.0, std, -bound, bound, text=f"{formula} = {std:.4g} with {fans}")


def _gain_text(gain: float) -> str:
    return "" if gain == 1 else f"{gain:g}*"


def _trunc_tf(i: Any) -> Promise:
    std = i.std / F.truncated_normal_std(i.a, i.b) if i.corrected else i.std
    low, high = i.mean + i.a * std, i.mean + i.b * std
    return Promise(
        *_truncnormal(i.mean, std, low, high),
        low,
        high,
        constant=std == 0,
        text=f"std {std:.4g} cut at [{i.a:g}, {i.b:g}] std",
    )


# --------------------------------------------------------------------------- structure checks
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
        return f"{what} is not {_gain_text(gain)}orthogonal: W Wᵀ differs from {gain * gain:g}·I by up to {error:.3g}."

    return check


def _orthogonal(i: Any, s: tuple[int, ...]) -> Promise:
    rows, cols = s[0], math.prod(s[1:])
    std = abs(i.gain) / math.sqrt(max(rows, cols))
    check = _gram_check(i.gain, "the matrix", lambda t: t.reshape(t.shape[0], -1))
    return Promise(0.0, std, -abs(i.gain), abs(i.gain), constant=i.gain == 0,
                   text=f"|gain|/sqrt(max(rows, cols)) = {std:.4g}, W Wᵀ = gain²·I", check=check)


def _delta_orthogonal(i: Any, s: tuple[int, ...]) -> Promise:
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

    return Promise(0.0, std, -abs(i.gain), abs(i.gain), constant=i.gain == 0,
                   text=f"orthogonal centre tap, zeros elsewhere: std {std:.4g}", check=check)


def _sparse(i: Any, s: tuple[int, ...]) -> Promise:
    zeros, std = _sparse_args(torch.float64, s, i.sparsity, i.std)
    mean, spread = _with_zeros(0.0, std, zeros / s[0])

    def check(t: Tensor) -> str | None:
        short = int(((t == 0).sum(dim=0) < zeros).sum())
        return f"{short} column(s) have fewer than {zeros} zeros." if short else None

    return Promise(mean, spread, zeros_ok=zeros == s[0] or std == 0, check=check,
                   text=f"std {std:g} with {zeros} of {s[0]} zeros per column")


def _embedding(i: Any, s: tuple[int, ...]) -> Promise:
    row = None if i.padding_idx is None or not s else i.padding_idx % s[0]
    mean, std = _with_zeros(i.mean, i.std, (1 / s[0]) if row is not None else 0.0)

    def check(t: Tensor) -> str | None:
        return None if row is None or not bool(t[row].any()) else f"the padding row {row} is not zero."

    padding = f", padding row {row} zero" if row is not None else ""
    return Promise(mean, std, constant=i.std == 0 and row is None, check=check, text=f"std {i.std:g}{padding}")


def _depth_scaled(i: Any, s: tuple[int, ...]) -> Promise | None:
    if isinstance(i.depth, str):  # not resolved to this tensor's depth (a rule always resolves it)
        return None
    std = i.scaled_std()
    return Promise(0.0, std, constant=std == 0, text=f"std/sqrt(2·{i.depth}) = {std:.4g}")


def _exact(init: Any) -> Promise:
    """A deterministic fill: the tensor must hold exactly what ``init`` writes into one of its shape."""

    def check(t: Tensor) -> str | None:
        expected = init.fill(torch.empty_like(t))
        if torch.equal(t, expected):
            return None
        return f"{int((t != expected).sum())} of {t.numel()} values differ from what {init.describe()} writes."

    return Promise(0.0, 0.0, exact=True, check=check, text="exact values")


# How each built-in initializer's values are distributed, for a tensor of shape s.
_PROMISES: dict[type, Callable[[Any, tuple[int, ...]], Promise | None]] = {
    Constant: lambda i, s: Promise(i.val, 0.0, constant=True, text=f"every value {i.val:g}"),
    Normal: lambda i, s: Promise(i.mean, i.std, constant=i.std == 0, text=f"std {i.std:g}"),
    Uniform: lambda i, s: Promise(
        (i.a + i.b) / 2,
        (i.b - i.a) / math.sqrt(12),
        i.a,
        i.b,
        text=f"(b-a)/sqrt(12) = {(i.b - i.a) / math.sqrt(12):.4g}",
    ),
    TruncNormal: lambda i, s: Promise(
        *_truncnormal(i.mean, i.std, i.a, i.b),
        i.a,
        i.b,
        constant=i.std == 0,
        text=f"std {i.std:g} cut to [{i.a:g}, {i.b:g}]",
    ),
    TruncNormalTF: lambda i, s: _trunc_tf(i),
    Orthogonal: _orthogonal,
    DeltaOrthogonal: _delta_orthogonal,
    Sparse: _sparse,
    EmbeddingNormal: _embedding,
    DepthScaledNormal: _depth_scaled,
}

# The variance-scaling rules: (gain, mode, distribution) of each, and the std formula shown.
_SCALINGS: dict[type, Callable[[Any], tuple[float, str, str]]] = {
    Xavier: lambda i: (i.gain, "fan_avg", i.distribution),
    Kaiming: lambda i: (F.calculate_gain(i.nonlinearity, i.a), i.mode, i.distribution),
    Caffe2Xavier: lambda i: (1.0, "fan_in", "uniform"),
    VarianceScaling: lambda i: (math.sqrt(i.scale), i.mode, i.distribution),
    LeCunNormal: lambda i: (1.0, "fan_in", "truncated_normal"),
    LeCunUniform: lambda i: (1.0, "fan_in", "uniform"),
}
_FORMULAS: dict[type, Callable[[Any], str]] = {
    Xavier: lambda i: f"{_gain_text(i.gain)}sqrt(2/(fan_in+fan_out))",
    Kaiming: lambda i: f"sqrt({F.calculate_gain(i.nonlinearity, i.a) ** 2:.4g}/{i.mode})",
    VarianceScaling: lambda i: f"sqrt({i.scale:g}/{i.mode})",
}
_PROMISES.update({
    cls: lambda i, s, c=cls: _scaled(s, *_SCALINGS[c](i), _FORMULAS.get(c, lambda i: "sqrt(1/fan_in)")(i))
    for cls in _SCALINGS
})

#: Initializers that promise nothing about the values, and why.
NO_PROMISE: dict[type, str] = {
    Pretrained: "the values are the checkpoint's",
}


def scaling_of(init: Any) -> tuple[float, str, str] | None:
    """``(gain, mode, distribution)`` of a variance-scaling initializer (Xavier, Kaiming, LeCun...,
    or a subclass keeping its ``fill``): its std is ``gain / sqrt(fan)``. None for the others."""
    cls = _promise_class(type(init))
    return _SCALINGS[cls](init) if cls in _SCALINGS else None


def _promise_class(cls: Any) -> type | None:
    """The class in ``_PROMISES`` whose promise ``cls`` keeps: itself, or a base whose fill it inherits."""
    for base in getattr(cls, "__mro__", ()):
        if base in _PROMISES and getattr(cls, "fill", None) is getattr(base, "fill", None):
            return base
    return None


def _is_deterministic(cls: Any) -> bool:
    """A fill that draws nothing, so its values can be computed again (Eye, Dirac, Arange, ...)."""
    return callable(getattr(cls, "fill", None)) and getattr(cls, "random", True) is False


def has_promise(cls: type) -> bool:
    """Does the health check know what ``cls`` promises (or that it can promise nothing)?"""
    return _promise_class(cls) is not None or _is_deterministic(cls) or cls in NO_PROMISE


_DESCRIBED = re.compile(r"^(\w+)\((.*)\)$")


def _field_value(kind: Any, text: str) -> Any:
    if kind in ("float", float):
        return float(text)
    if kind in ("bool", bool):
        return {"True": True, "False": False}[text]
    if kind in ("int | None", "int | str") and re.fullmatch(r"-?\d+", text):
        return int(text)
    if kind == "int | None" and text == "None":
        return None
    return text


def _initializer_from_text(text: str | None) -> Any:
    """Rebuild a built-in initializer from its ``describe()`` text; None when not possible."""
    match = _DESCRIBED.match(text or "")
    if match is None or match.group(1) not in WEIGHT_INITIALIZERS:
        return None
    cls = WEIGHT_INITIALIZERS.get(match.group(1))
    if _promise_class(cls) is None:
        return None
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for part in filter(None, match.group(2).split(", ")):
        key, _, value = part.partition("=")
        if key not in fields:
            return None
        if fields[key].init:
            try:
                kwargs[key] = _field_value(fields[key].type, value)
            except (KeyError, ValueError):
                return None
    try:
        return cls(**kwargs)
    except (ConfigError, TypeError, ValueError):
        return None


def promise_of(record: ParamRecord) -> Promise | None:
    """What the rule that set ``record`` promises about its values (None: no promise known).

    A rule's bias is a constant; a weight's promise comes from its initializer (as the rule
    resolved it for this tensor: an embedding's padding row, a block's depth). Checkpoints,
    user code, custom random initializers and tensors left as built promise nothing.
    """
    if record.source not in ("rule", "default"):
        return None
    if record.role == "bias":
        if record.value is None:
            return None
        return Promise(record.value, 0.0, constant=True, text=f"bias {record.value:g}")
    init = record.init
    if init is None or (_promise_class(type(init)) is None and not _is_deterministic(type(init))):
        init = _initializer_from_text(record.initializer)
    if init is None:
        return None
    cls = _promise_class(type(init))
    if cls is None:
        return _exact(init)
    try:
        return _PROMISES[cls](init, tuple(record.shape))
    except ConfigError:  # a fan-based rule on a 1-d tensor cannot have been applied
        return None

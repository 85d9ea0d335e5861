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
from typing import Any

from torch import nn

from .. import functional as F
from ..errors import ConfigError
from ..initializers import (
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
from ..report import ParamRecord
from ._promise_checks import (
    Promise,
    delta_orthogonal,
    embedding,
    exact,
    gain_text,
    orthogonal,
    sparse,
    torch_default,
)

__all__ = ["NO_PROMISE", "Promise", "fan_of", "has_promise", "promise_of", "scaling_of"]


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


def _depth_scaled(i: Any, s: tuple[int, ...]) -> Promise | None:
    if isinstance(i.depth, str):  # not resolved to this tensor's depth (a rule always resolves it)
        return None
    std = i.scaled_std()
    return Promise(0.0, std, constant=std == 0, text=f"std/sqrt(2·{i.depth}) = {std:.4g}")


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
    Orthogonal: orthogonal,
    DeltaOrthogonal: delta_orthogonal,
    Sparse: sparse,
    EmbeddingNormal: embedding,
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
    Xavier: lambda i: f"{gain_text(i.gain)}sqrt(2/(fan_in+fan_out))",
    Kaiming: lambda i: f"sqrt({F.calculate_gain(i.nonlinearity, i.a) ** 2:.4g}/{i.mode})",
    VarianceScaling: lambda i: f"sqrt({i.scale:g}/{i.mode})",
}
_PROMISES.update(
    {
        cls: lambda i, s, c=cls: _scaled(s, *_SCALINGS[c](i), _FORMULAS.get(c, lambda i: "sqrt(1/fan_in)")(i))  # type: ignore[misc]
        for cls in _SCALINGS
    }
)

#: Registered initializers that promise nothing about the values, and why (by class name).
NO_PROMISE: dict[str, str] = {
    Pretrained.__name__: "the values are the checkpoint's",
    "ModuleInit": "the module's own method writes the values",
    "SkipInitWeights": "it writes nothing: it keeps a module's own init_weights from running",
}


#: Initializers that run a module's own code: their promise depends on the module (by class name).
_MODULE_PROMISES: dict[str, Callable[[nn.Module, str, tuple[int, ...]], Promise | None]] = {
    "TorchDefault": torch_default,
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
    named = cls.__name__ in NO_PROMISE or cls.__name__ in _MODULE_PROMISES
    return named or _promise_class(cls) is not None or _is_deterministic(cls)


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


def promise_of(record: ParamRecord, module: nn.Module | None = None) -> Promise | None:
    """What the rule that set ``record`` promises about its values (None: no promise known).

    A rule's bias is a constant; a weight's promise comes from its initializer (as the rule
    resolved it for this tensor: an embedding's padding row, a block's depth). A rule that
    runs a layer's own code (``TorchDefault``) promises what that layer's code writes, known
    for PyTorch's layers: pass the ``module`` that holds the tensor. Checkpoints, user code,
    custom random initializers and tensors left as built promise nothing.
    """
    if record.source not in ("rule", "default"):
        return None
    if record.role == "bias":
        if record.value is None:
            return None
        return Promise(record.value, 0.0, constant=True, text=f"bias {record.value:g}")
    init = record.init
    kind = type(init).__name__ if init is not None else (record.initializer or "").partition("(")[0]
    by_module = _MODULE_PROMISES.get(kind)
    if by_module is not None:
        attr = record.name.rpartition(".")[2]
        return by_module(module, attr, tuple(record.shape)) if module is not None else None
    if init is None or (_promise_class(type(init)) is None and not _is_deterministic(type(init))):
        init = _initializer_from_text(record.initializer)
    if init is None:
        return None
    cls = _promise_class(type(init))
    if cls is None:
        return exact(init)
    try:
        return _PROMISES[cls](init, tuple(record.shape))
    except ConfigError:  # a fan-based rule on a 1-d tensor cannot have been applied
        return None

"""mmengine's initialization functions on modules: fill ``module.weight``, set ``module.bias``.

Each acts on that module only (no recursion) and leaves a missing or None weight or bias
alone; the bias always gets the constant. They are re-exported by
:mod:`torchinit.functional` and the top-level package.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

from ._core_fills import Distribution, _constant_args, constant_, normal_, uniform_
from ._scaling import _check_distribution, caffe2_xavier_, kaiming_, xavier_
from ._trunc_normal import trunc_normal_
from .errors import ConfigTypeError, ConfigValueError
from .registry import describe_value, short_repr

__all__ = [
    "bias_init_with_prob",
    "caffe2_xavier_init",
    "constant_init",
    "kaiming_init",
    "normal_init",
    "trunc_normal_init",
    "uniform_init",
    "xavier_init",
]


def _weight(module: nn.Module) -> Tensor | None:
    w = getattr(module, "weight", None)
    return w if isinstance(w, Tensor) else None


def _on_module(module: nn.Module, fill: Callable[[Tensor], object], bias: float) -> None:
    """Fill ``module.weight`` with ``fill`` and set ``module.bias``: each only if present.

    The bias is checked against its dtype before the weight is written, and the weight fill
    checks its own arguments before it writes: a bad value changes neither.
    """
    b = getattr(module, "bias", None)
    value = _constant_args(b.dtype, bias) if isinstance(b, Tensor) else None
    if (w := _weight(module)) is not None:
        fill(w)
    if isinstance(b, Tensor):
        with torch.no_grad():
            b.fill_(value)  # type: ignore[arg-type]  # a number: b is a tensor, as above


def constant_init(module: nn.Module, val: float, bias: float = 0) -> None:
    """Set ``module.weight`` to ``val`` and ``module.bias`` to ``bias`` (those that exist)."""
    _on_module(module, lambda w: constant_(w, val), bias)


def xavier_init(
    module: nn.Module,
    gain: float = 1,
    bias: float = 0,
    distribution: Distribution = "normal",
    *,
    generator: torch.Generator | None = None,
) -> None:
    """Xavier-fill ``module.weight`` (see :func:`xavier_`), set ``module.bias`` to ``bias``."""
    _check_distribution(distribution)
    _on_module(module, lambda w: xavier_(w, gain, distribution, generator=generator), bias)


def normal_init(
    module: nn.Module,
    mean: float = 0,
    std: float = 1,
    bias: float = 0,
    *,
    generator: torch.Generator | None = None,
) -> None:
    """Fill ``module.weight`` from N(mean, std²), set ``module.bias`` to ``bias``."""
    _on_module(module, lambda w: normal_(w, mean, std, generator=generator), bias)


def trunc_normal_init(
    module: nn.Module,
    mean: float = 0,
    std: float = 1,
    a: float = -2,
    b: float = 2,
    bias: float = 0,
    *,
    generator: torch.Generator | None = None,
) -> None:
    """Fill ``module.weight`` from N(mean, std²) cut to the absolute range [a, b]."""
    _on_module(module, lambda w: trunc_normal_(w, mean, std, a, b, generator=generator), bias)


def uniform_init(
    module: nn.Module,
    a: float = 0,
    b: float = 1,
    bias: float = 0,
    *,
    generator: torch.Generator | None = None,
) -> None:
    """Fill ``module.weight`` from U(a, b), set ``module.bias`` to ``bias``."""
    _on_module(module, lambda w: uniform_(w, a, b, generator=generator), bias)


def kaiming_init(
    module: nn.Module,
    a: float = 0,
    mode: Literal["fan_in", "fan_out"] = "fan_out",
    nonlinearity: str = "relu",
    bias: float = 0,
    distribution: Distribution = "normal",
    *,
    generator: torch.Generator | None = None,
) -> None:
    """Kaiming-fill ``module.weight`` (see :func:`kaiming_`), set ``module.bias`` to ``bias``."""
    _check_distribution(distribution)
    _on_module(module, lambda w: kaiming_(w, a, mode, nonlinearity, distribution, generator=generator), bias)


def caffe2_xavier_init(
    module: nn.Module, bias: float = 0, *, generator: torch.Generator | None = None
) -> None:
    """Caffe2-Xavier-fill ``module.weight`` (U(±√(3/fan_in))), set ``module.bias``."""
    _on_module(module, lambda w: caffe2_xavier_(w, generator=generator), bias)


def bias_init_with_prob(prior_prob: float) -> float:
    """The bias that makes a sigmoid output ``prior_prob`` at init: ``-log((1 - p) / p)``.

    Lin et al. (2017), Focal Loss for Dense Object Detection.

    Raises:
        ConfigTypeError: ``prior_prob`` is not a number.
        ConfigValueError: it is not strictly between 0 and 1, or so close to 0 (below
            about 5.6e-309) that the bias is not a finite float.

    Example:
        >>> bias_init_with_prob(0.01)
        -4.59511985013459
    """
    if isinstance(prior_prob, bool) or not isinstance(prior_prob, (int, float)):
        raise ConfigTypeError(f"prior_prob must be a number, got {describe_value(prior_prob)}.")
    if not 0 < prior_prob < 1:
        raise ConfigValueError(f"prior_prob must lie strictly between 0 and 1, got {short_repr(prior_prob)}.")
    p = float(prior_prob)
    bias = float(-math.log((1 - p) / p))
    if not math.isfinite(bias):
        raise ConfigValueError(
            f"prior_prob={p!r} is too close to 0: the bias -log((1 - p) / p) it gives is {bias}, not a "
            "finite number. Use a probability of at least 1e-300."
        )
    return bias

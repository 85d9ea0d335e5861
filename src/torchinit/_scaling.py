"""Gains, fans and variance scaling: one core, :func:`variance_scaling_`, and its
specializations (Xavier, Kaiming, Caffe2-Xavier, LeCun).

Re-exported by :mod:`torchinit.functional`; import them from there. Every fill here draws
with standard deviation ``gain / √fan``, resolved (and checked against the tensor's dtype) by
``_scaled_args``, which the initializers' ``check_tensor`` calls too.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import Tensor

from ._core_fills import (
    DISTRIBUTIONS,
    FAN_MODES,
    SCALING_DISTRIBUTIONS,
    Distribution,
    FanMode,
    ScalingDistribution,
    _normal_args,
    _real,
    _uniform_args,
)
from ._trunc_normal import _trunc_normal_tf_args, _trunc_normal_tf_fill
from .errors import ConfigTypeError, ConfigValueError
from .registry import describe_value, did_you_mean, short_repr

__all__ = [
    "caffe2_xavier_",
    "calculate_gain",
    "compute_fans",
    "kaiming_",
    "lecun_normal_",
    "lecun_uniform_",
    "variance_scaling_",
    "xavier_",
]


# --------------------------------------------------------------------------- gains
# The gains of torch.nn.init.calculate_gain, with its values (tanh 5/3, selu 3/4 and sigmoid 1
# are torch's conventions, kept for compatibility).
_FIXED_GAINS: dict[str, float] = {
    "linear": 1.0,
    "conv1d": 1.0,
    "conv2d": 1.0,
    "conv3d": 1.0,
    "conv_transpose1d": 1.0,
    "conv_transpose2d": 1.0,
    "conv_transpose3d": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3,
    "relu": math.sqrt(2.0),
    "selu": 3.0 / 4,
}
# The modern activations, by one definition: the gain g with E[(g·f(x))²] = 1 for x ~ N(0, 1),
# i.e. g = 1 / √E[f(x)²]. It is the definition that gives √2 for relu and √(2/(1+a²)) for
# leaky_relu (the second moment, not the variance, is what the next layer's variance scales
# with: He et al. 2015, eq. 8). Computed once by quadrature at 40 digits (mpmath);
# tests/test_catalogue.py derives them again. elu: alpha=1; softplus: beta=1; gelu: the exact
# (erf) form.
_FIXED_GAINS |= {
    "elu": 1.2451983007007066,
    "gelu": 1.5335304411955353,
    "hardswish": 1.7366572127665416,
    "mish": 1.486847581273208,
    "relu6": 1.4142135650950736,
    "silu": 1.676532470331091,
    "softplus": 1.0418668355353018,
}
_FIXED_GAINS["swish"] = _FIXED_GAINS["silu"]  # the same function (Ramachandran et al. 2017)
NONLINEARITIES = tuple(sorted([*_FIXED_GAINS, "leaky_relu"]))


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity: the factor that keeps activations' scale.

    torch's table (``torch.nn.init.calculate_gain``) with its values: 1 for linear, conv and
    sigmoid, 5/3 for tanh, √2 for relu, 3/4 for selu. ``leaky_relu`` takes its negative slope
    as ``param`` (default 0.01): ``sqrt(2 / (1 + param**2))``. The modern activations (gelu,
    silu = swish, mish, elu, softplus, hardswish, relu6) follow one definition,

        g = 1 / √E[f(x)²],   x ~ N(0, 1),

    so that ``g·f`` keeps the second moment of unit-normal inputs (He et al. 2015), which
    also gives relu's √2. ``param`` is read by ``leaky_relu`` only.

    Example:
        >>> round(calculate_gain('relu'), 4)
        1.4142
    """
    if not isinstance(nonlinearity, str):
        raise ConfigTypeError(f"nonlinearity must be a str, got {describe_value(nonlinearity)}.")
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        else:
            slope = _real(param, "the negative slope of leaky_relu")
        try:
            return math.sqrt(2.0 / (1 + slope**2))
        except OverflowError:  # |slope| > 1e154: the same value, without squaring
            return math.sqrt(2.0) / abs(slope)
    if nonlinearity in _FIXED_GAINS:
        return _FIXED_GAINS[nonlinearity]
    raise ConfigValueError(
        f"unsupported nonlinearity {nonlinearity!r}.{did_you_mean(nonlinearity, NONLINEARITIES)} "
        f"Choose one of: {', '.join(NONLINEARITIES)}."
    )


def compute_fans(shape: torch.Size | tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of this shape, as torch computes them.

    ``shape[1] * receptive field`` is fan_in and ``shape[0] * receptive field`` fan_out, where
    the receptive field is the product of the dimensions after the second.

    Raises:
        ConfigValueError: the shape has fewer than 2 dimensions (a bias, a norm's weight):
            fan-based initializers do not apply to it.
    """
    if len(shape) < 2:
        raise ConfigValueError(
            f"fan_in and fan_out are not defined for a tensor of shape {tuple(shape)} "
            "(fewer than 2 dimensions). Use a Constant, Normal, Uniform or TruncNormal rule "
            "for it instead of a fan-based one (Kaiming, Xavier, Caffe2Xavier)."
        )
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fan(shape: torch.Size | tuple[int, ...], mode: str) -> float:
    fan_in, fan_out = compute_fans(shape)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    if mode == "fan_avg":
        return (fan_in + fan_out) / 2
    if mode == "fan_geo_avg":
        return math.sqrt(fan_in * fan_out)
    raise ConfigValueError(f"mode must be one of {', '.join(FAN_MODES)}, got {mode!r}.")


# --------------------------------------------------------------------------- variance scaling
Draw = tuple[
    str, Any
]  # ('normal', (mean, std)) / ('uniform', (a, b)) / ('truncated_normal', plan) / ('none', ())


def _scaled_args(
    dtype: torch.dtype, shape: torch.Size | tuple[int, ...], gain: float, mode: str, distribution: str
) -> Draw:
    """The draw of :func:`variance_scaling_` with std ``|gain| / √fan`` on a tensor of this dtype and shape.

    ``gain`` is ``√scale``: dividing it by ``√fan``, rather than taking ``√(gain²/fan)``,
    keeps a large gain from overflowing before the fan scales it down.
    """
    gain = abs(_real(gain, "gain"))
    fan = _fan(shape, mode)
    if fan == 0:  # a dimension is 0: there is nothing to draw
        return "none", ()
    std = gain / math.sqrt(fan)
    if distribution == "normal":
        return "normal", _normal_args(dtype, 0.0, std)
    if distribution == "uniform":
        bound = math.sqrt(3.0) * std
        return "uniform", _uniform_args(dtype, -bound, bound)
    return "truncated_normal", _trunc_normal_tf_args(dtype, 0.0, std, -2.0, 2.0, corrected=True)


def _draw(tensor: Tensor, draw: Draw, generator: torch.Generator | None) -> Tensor:
    kind, args = draw
    with torch.no_grad():
        if kind == "normal":
            return tensor.normal_(*args, generator=generator)
        if kind == "uniform":
            return tensor.uniform_(*args, generator=generator)
        if kind == "truncated_normal":
            return _trunc_normal_tf_fill(tensor, args, generator)
        return tensor


def _variance_scaling_args(
    dtype: torch.dtype, shape: torch.Size | tuple[int, ...], scale: Any, mode: str, distribution: str
) -> Draw:
    if distribution not in SCALING_DISTRIBUTIONS:
        raise ConfigValueError(
            f"distribution must be 'normal' or 'uniform', got {short_repr(distribution)} (or 'truncated_normal': "
            "JAX's normal cut at ±2 standard deviations)."
        )
    if mode not in FAN_MODES:
        raise ConfigValueError(f"mode must be one of {', '.join(FAN_MODES)}, got {short_repr(mode)}.")
    scale = _real(scale, "scale")
    if not scale >= 0:
        raise ConfigValueError(f"scale must be >= 0, got {scale!r}.")
    return _scaled_args(dtype, shape, math.sqrt(scale), mode, distribution)


def variance_scaling_(
    tensor: Tensor,
    scale: float = 1.0,
    mode: FanMode = "fan_in",
    distribution: ScalingDistribution = "normal",
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill ``tensor`` with zero-mean values of variance ``scale / fan``.

    The one core behind Xavier (``scale=gain²``, ``fan_avg``), Kaiming (``scale=gain²``,
    ``fan_in`` or ``fan_out``), LeCun (``scale=1``, ``fan_in``) and Caffe2-Xavier; JAX's
    ``jax.nn.initializers.variance_scaling``. ``fan`` is fan_in, fan_out, their mean
    (``fan_avg``) or their geometric mean √(fan_in·fan_out) (``fan_geo_avg``).
    ``'normal'`` draws N(0, scale/fan); ``'uniform'`` draws U(-√(3·scale/fan), √(3·scale/fan));
    ``'truncated_normal'`` draws a normal cut at ±2 of its standard deviations whose std
    is first divided by 0.8796 (:func:`truncated_normal_std`), as JAX does. All three have
    variance ``scale / fan``. A tensor with no elements is returned as it is.

    Example:
        >>> w = variance_scaling_(torch.empty(256, 128), scale=2.0, mode='fan_in')
        >>> 0.11 < float(w.std()) < 0.14
        True
    """
    draw = _variance_scaling_args(tensor.dtype, tensor.shape, scale, mode, distribution)
    return _draw(tensor, draw, generator)


def _check_distribution(distribution: str) -> None:
    """Xavier and Kaiming take mmengine's two distributions (variance_scaling_ takes three)."""
    if distribution not in DISTRIBUTIONS:
        raise ConfigValueError(f"distribution must be 'normal' or 'uniform', got {short_repr(distribution)}.")


def _xavier_args(
    dtype: torch.dtype, shape: torch.Size | tuple[int, ...], gain: Any, distribution: str
) -> Draw:
    _check_distribution(distribution)
    return _scaled_args(dtype, shape, gain, "fan_avg", distribution)


def xavier_(
    tensor: Tensor,
    gain: float = 1.0,
    distribution: Distribution = "normal",
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Glorot & Bengio (2010): std = gain·√(2 / (fan_in + fan_out)).

    Understanding the difficulty of training deep feedforward neural networks.
    """
    return _draw(tensor, _xavier_args(tensor.dtype, tensor.shape, gain, distribution), generator)


def _kaiming_args(
    dtype: torch.dtype,
    shape: torch.Size | tuple[int, ...],
    a: Any,
    mode: str,
    nonlinearity: str,
    distribution: str,
) -> Draw:
    if mode not in ("fan_in", "fan_out"):
        raise ConfigValueError(f"mode must be 'fan_in' or 'fan_out', got {short_repr(mode)}.")
    _check_distribution(distribution)
    return _scaled_args(dtype, shape, calculate_gain(nonlinearity, a), mode, distribution)


def kaiming_(
    tensor: Tensor,
    a: float = 0.0,
    mode: Literal["fan_in", "fan_out"] = "fan_out",
    nonlinearity: str = "relu",
    distribution: Distribution = "normal",
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """He et al. (2015): std = gain / √fan, gain = calculate_gain(nonlinearity, a).

    Delving Deep into Rectifiers. ``a`` is the negative slope used for ``leaky_relu``.
    The defaults are mmengine's (fan_out, relu), not torch's.
    """
    draw = _kaiming_args(tensor.dtype, tensor.shape, a, mode, nonlinearity, distribution)
    return _draw(tensor, draw, generator)


# Fixed specializations: Caffe2's "Xavier" is Kaiming with (a, mode, nonlinearity,
# distribution); LeCun's are variance scaling with (scale, mode, distribution).
CAFFE2_XAVIER = (1.0, "fan_in", "leaky_relu", "uniform")
LECUN_NORMAL = (1.0, "fan_in", "truncated_normal")
LECUN_UNIFORM = (1.0, "fan_in", "uniform")


def caffe2_xavier_(tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """Caffe2's "Xavier": U(-√(3/fan_in), √(3/fan_in)) (kaiming uniform, a=1, leaky_relu)."""
    return kaiming_(tensor, *CAFFE2_XAVIER, generator=generator)  # type: ignore[arg-type]


def lecun_normal_(tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """LeCun et al. (1998): a normal cut at ±2 std with variance 1/fan_in (JAX's, timm's).

    Efficient BackProp. ``variance_scaling_(tensor, 1, 'fan_in', 'truncated_normal')``; the
    initializer of self-normalizing networks (Klambauer et al. 2017) and of ViT's patch
    embedding in JAX.

    Example:
        >>> w = lecun_normal_(torch.empty(64, 256))
        >>> bool(w.abs().max() <= 2 / 0.8796 / 16)
        True
    """
    return variance_scaling_(tensor, *LECUN_NORMAL, generator=generator)  # type: ignore[arg-type]


def lecun_uniform_(tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """LeCun et al. (1998): U(-√(3/fan_in), √(3/fan_in)), variance 1/fan_in.

    Efficient BackProp. ``variance_scaling_(tensor, 1, 'fan_in', 'uniform')``.

    Example:
        >>> w = lecun_uniform_(torch.empty(64, 256))
        >>> bool(w.abs().max() <= (3 / 256) ** 0.5)
        True
    """
    return variance_scaling_(tensor, *LECUN_UNIFORM, generator=generator)  # type: ignore[arg-type]

"""In-place tensor fills, fan and gain helpers, and mmengine's functions on modules.

Every fill works in place under ``torch.no_grad()``, returns the tensor it filled, and takes
the random generator as the keyword ``generator`` (``None`` means torch's global generator).
Xavier, Kaiming and Caffe2-Xavier are specializations of one core,
:func:`variance_scaling_`: draw with variance ``scale / fan``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from .errors import ConfigTypeError, ConfigValueError
from .registry import describe_value

__all__ = [
    "bias_init_with_prob",
    "caffe2_xavier_",
    "caffe2_xavier_init",
    "calculate_gain",
    "compute_fans",
    "constant_",
    "constant_init",
    "kaiming_",
    "kaiming_init",
    "normal_",
    "normal_init",
    "trunc_normal_",
    "trunc_normal_init",
    "uniform_",
    "uniform_init",
    "variance_scaling_",
    "xavier_",
    "xavier_init",
]

Distribution = Literal["normal", "uniform"]
FanMode = Literal["fan_in", "fan_out", "fan_avg"]

DISTRIBUTIONS = ("normal", "uniform")
FAN_MODES = ("fan_in", "fan_out", "fan_avg")

# Gains for the nonlinearities torch.nn.init knows, plus the modern ones. The value for a
# smooth activation is the one that keeps the second moment through it for unit-normal
# inputs (the same definition torch uses for 'selu' = 3/4 and that gives sqrt(2) for relu).
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
NONLINEARITIES = tuple(sorted([*_FIXED_GAINS, "leaky_relu"]))


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (``torch.nn.init.calculate_gain``'s table).

    ``leaky_relu`` takes its negative slope as ``param`` (default 0.01):
    ``sqrt(2 / (1 + param**2))``.

    Example:
        >>> round(calculate_gain('relu'), 4)
        1.4142
    """
    if not isinstance(nonlinearity, str):
        raise ConfigTypeError(f"nonlinearity must be a str, got {describe_value(nonlinearity)}.")
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, bool) or not isinstance(param, (int, float)):
            raise ConfigTypeError(
                f"the negative slope of leaky_relu must be a number, got {describe_value(param)}."
            )
        else:
            slope = float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity in _FIXED_GAINS:
        return _FIXED_GAINS[nonlinearity]
    from .registry import did_you_mean

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
    raise ConfigValueError(f"mode must be one of {', '.join(FAN_MODES)}, got {mode!r}.")


# --------------------------------------------------------------------------- fills
def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill ``tensor`` with ``val``."""
    with torch.no_grad():
        return tensor.fill_(val)


def normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, *, generator: torch.Generator | None = None
) -> Tensor:
    """Fill ``tensor`` from N(mean, std²)."""
    if std < 0:
        raise ConfigValueError(f"std must be >= 0, got {std!r}.")
    with torch.no_grad():
        return tensor.normal_(mean, std, generator=generator)


def uniform_(
    tensor: Tensor, a: float = 0.0, b: float = 1.0, *, generator: torch.Generator | None = None
) -> Tensor:
    """Fill ``tensor`` from U(a, b)."""
    if a > b:
        raise ConfigValueError(f"uniform_ needs a <= b, got a={a!r}, b={b!r}.")
    with torch.no_grad():
        return tensor.uniform_(a, b, generator=generator)


def _normal_cdf(x: float) -> float:
    """Φ(x), written with erfc so that values far in the lower tail keep their precision."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


# Elements drawn per step by trunc_normal_: bounds its float64 scratch memory to 32 MiB.
_TRUNC_NORMAL_CHUNK = 1 << 22
# Rejection sampling when [a, b] holds at least this much of the normal mass (at most
# two expected draws per value); the inverse-CDF path below otherwise.
_REJECTION_MIN_MASS = 0.5


def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill ``tensor`` from N(mean, std²) truncated to ``[a, b]``.

    ``a`` and ``b`` are absolute values, not multiples of ``std`` (as in mmengine and
    torch): with ``std=0.02`` the default ``[-2, 2]`` truncates nothing in practice.
    When the range holds at least half of the mass, values are drawn from N(mean, std²) and
    those outside are redrawn (exact, and as fast as ``normal_``). Otherwise sampling is by
    the inverse CDF in float64: ``u ~ U(Φ(α), Φ(β))``,
    ``x = mean + std·Φ⁻¹(u)`` with ``α=(a-mean)/std``, ``β=(b-mean)/std``; a range lying
    mostly above the mean is mirrored first, so Φ is only evaluated where it is small and
    exact. Every value lies in ``[a, b]``; a range far in a tail (``[10, 11]`` for N(0, 1))
    is sampled correctly, and ``std=0.02`` in ``[-2, 2]`` puts no values on the bounds
    (float32 sampling, as in ``torch.nn.init.trunc_normal_``, returns exactly -2 or 2
    about once in 2**24 draws).

    Example:
        >>> t = trunc_normal_(torch.empty(1000), std=1.0, a=-1.0, b=1.0)
        >>> bool(t.abs().max() <= 1.0)
        True
    """
    if not (math.isfinite(mean) and math.isfinite(std)):
        raise ConfigValueError(
            f"trunc_normal_ needs a finite mean and std, got mean={mean!r}, std={std!r}."
        )
    if std < 0:
        raise ConfigValueError(f"std must be >= 0, got {std!r}.")
    if not a < b:
        raise ConfigValueError(f"trunc_normal_ needs a < b, got a={a!r}, b={b!r}.")
    with torch.no_grad():
        if std == 0:
            return tensor.fill_(min(max(mean, a), b))
        alpha, beta = (a - mean) / std, (b - mean) / std
        mirrored = alpha + beta > 0
        if mirrored:
            alpha, beta = -beta, -alpha
        lo, hi = _normal_cdf(alpha), _normal_cdf(beta)
        if hi - lo >= _REJECTION_MIN_MASS and tensor.is_floating_point():
            return _trunc_normal_by_rejection(tensor, mean, std, a, b, generator)
        if not lo < hi:
            # No float64 mass in the range (far in a tail, or narrower than float64 can
            # tell apart): the bound nearest the mean is where all of it sits.
            return tensor.fill_(a if mirrored else b)
        scale = -std if mirrored else std
        work_dtype = torch.float32 if tensor.device.type == "mps" else torch.float64
        # Fill a contiguous tensor through a flat view; any other through a contiguous copy.
        out = tensor
        if not tensor.is_contiguous():
            out = torch.empty_like(tensor, memory_format=torch.contiguous_format)
        flat = out.view(-1)
        for start in range(0, flat.numel(), _TRUNC_NORMAL_CHUNK):
            part = flat[start : start + _TRUNC_NORMAL_CHUNK]
            u = torch.empty(part.shape, dtype=work_dtype, device=part.device)
            u.uniform_(lo, hi, generator=generator)
            part.copy_(torch.special.ndtri(u).mul_(scale).add_(mean).clamp_(min=a, max=b))
        if out is not tensor:
            tensor.copy_(out)
        return tensor


def _trunc_normal_by_rejection(
    tensor: Tensor, mean: float, std: float, a: float, b: float, generator: torch.Generator | None
) -> Tensor:
    """Draw N(mean, std²), then redraw the values outside ``[a, b]`` until none is left.

    Exact for any range, and the fast path when the range holds most of the mass (the
    usual ``std=0.02`` in ``[-2, 2]``: one ``normal_`` pass and one min/max pass).
    """
    out = tensor if tensor.is_contiguous() else torch.empty_like(tensor, memory_format=torch.contiguous_format)
    flat = out.view(-1)
    flat.normal_(mean, std, generator=generator)
    if flat.numel() and not flat.is_meta:
        low, high = torch.aminmax(flat)
        if float(low) < a or float(high) > b:
            bad = torch.logical_or(flat < a, flat > b).nonzero().squeeze(1)
            while bad.numel():
                redraw = torch.empty(bad.numel(), dtype=flat.dtype, device=flat.device)
                redraw.normal_(mean, std, generator=generator)
                flat[bad] = redraw
                bad = bad[torch.logical_or(redraw < a, redraw > b)]
    if out is not tensor:
        tensor.copy_(out)
    return tensor


def variance_scaling_(
    tensor: Tensor,
    scale: float = 1.0,
    mode: FanMode = "fan_in",
    distribution: Distribution = "normal",
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill ``tensor`` with zero-mean values of variance ``scale / fan``.

    The one core behind Xavier (``scale=gain²``, ``fan_avg``), Kaiming (``scale=gain²``,
    ``fan_in`` or ``fan_out``) and Caffe2-Xavier. ``'normal'`` draws N(0, scale/fan);
    ``'uniform'`` draws U(-√(3·scale/fan), √(3·scale/fan)), which has the same variance.
    A tensor with no elements is returned as it is.

    Example:
        >>> w = variance_scaling_(torch.empty(256, 128), scale=2.0, mode='fan_in')
        >>> 0.11 < float(w.std()) < 0.14
        True
    """
    if distribution not in DISTRIBUTIONS:
        raise ConfigValueError(
            f"distribution must be 'normal' or 'uniform', got {distribution!r}."
        )
    if mode not in FAN_MODES:
        raise ConfigValueError(f"mode must be one of {', '.join(FAN_MODES)}, got {mode!r}.")
    if not scale >= 0:
        raise ConfigValueError(f"scale must be >= 0, got {scale!r}.")
    fan = _fan(tensor.shape, mode)
    if tensor.numel() == 0:
        return tensor
    std = math.sqrt(scale / fan)
    if distribution == "normal":
        return normal_(tensor, 0.0, std, generator=generator)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator=generator)


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
    return variance_scaling_(tensor, gain**2, "fan_avg", distribution, generator=generator)


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
    if mode not in ("fan_in", "fan_out"):
        raise ConfigValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}.")
    gain = calculate_gain(nonlinearity, a)
    return variance_scaling_(tensor, gain**2, mode, distribution, generator=generator)


def caffe2_xavier_(tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """Caffe2's "Xavier": U(-√(3/fan_in), √(3/fan_in)) (kaiming uniform, a=1, leaky_relu)."""
    return kaiming_(tensor, 1.0, "fan_in", "leaky_relu", "uniform", generator=generator)


# --------------------------------------------------------------------------- on modules
def _fill_bias(module: nn.Module, bias: float) -> None:
    b = getattr(module, "bias", None)
    if isinstance(b, Tensor):
        constant_(b, bias)


def _weight(module: nn.Module) -> Tensor | None:
    w = getattr(module, "weight", None)
    return w if isinstance(w, Tensor) else None


def constant_init(module: nn.Module, val: float, bias: float = 0) -> None:
    """Set ``module.weight`` to ``val`` and ``module.bias`` to ``bias`` (those that exist)."""
    if (w := _weight(module)) is not None:
        constant_(w, val)
    _fill_bias(module, bias)


def xavier_init(
    module: nn.Module,
    gain: float = 1,
    bias: float = 0,
    distribution: Distribution = "normal",
    *,
    generator: torch.Generator | None = None,
) -> None:
    """Xavier-fill ``module.weight`` (see :func:`xavier_`), set ``module.bias`` to ``bias``."""
    if distribution not in DISTRIBUTIONS:
        raise ConfigValueError(f"distribution must be 'normal' or 'uniform', got {distribution!r}.")
    if (w := _weight(module)) is not None:
        xavier_(w, gain, distribution, generator=generator)
    _fill_bias(module, bias)


def normal_init(
    module: nn.Module,
    mean: float = 0,
    std: float = 1,
    bias: float = 0,
    *,
    generator: torch.Generator | None = None,
) -> None:
    """Fill ``module.weight`` from N(mean, std²), set ``module.bias`` to ``bias``."""
    if (w := _weight(module)) is not None:
        normal_(w, mean, std, generator=generator)
    _fill_bias(module, bias)


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
    if (w := _weight(module)) is not None:
        trunc_normal_(w, mean, std, a, b, generator=generator)
    _fill_bias(module, bias)


def uniform_init(
    module: nn.Module,
    a: float = 0,
    b: float = 1,
    bias: float = 0,
    *,
    generator: torch.Generator | None = None,
) -> None:
    """Fill ``module.weight`` from U(a, b), set ``module.bias`` to ``bias``."""
    if (w := _weight(module)) is not None:
        uniform_(w, a, b, generator=generator)
    _fill_bias(module, bias)


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
    if distribution not in DISTRIBUTIONS:
        raise ConfigValueError(f"distribution must be 'normal' or 'uniform', got {distribution!r}.")
    if (w := _weight(module)) is not None:
        kaiming_(w, a, mode, nonlinearity, distribution, generator=generator)
    _fill_bias(module, bias)


def caffe2_xavier_init(
    module: nn.Module, bias: float = 0, *, generator: torch.Generator | None = None
) -> None:
    """Caffe2-Xavier-fill ``module.weight`` (U(±√(3/fan_in))), set ``module.bias``."""
    if (w := _weight(module)) is not None:
        caffe2_xavier_(w, generator=generator)
    _fill_bias(module, bias)


def bias_init_with_prob(prior_prob: float) -> float:
    """The bias that makes a sigmoid output ``prior_prob`` at init: ``-log((1 - p) / p)``.

    Lin et al. (2017), Focal Loss for Dense Object Detection.

    Example:
        >>> bias_init_with_prob(0.01)
        -4.59511985013459
    """
    if isinstance(prior_prob, bool) or not isinstance(prior_prob, (int, float)):
        raise ConfigTypeError(f"prior_prob must be a number, got {describe_value(prior_prob)}.")
    if not 0 < prior_prob < 1:
        raise ConfigValueError(f"prior_prob must lie strictly between 0 and 1, got {prior_prob!r}.")
    return float(-math.log((1 - prior_prob) / prior_prob))

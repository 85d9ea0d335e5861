"""In-place tensor fills, fan and gain helpers, and mmengine's functions on modules.

Every fill works in place under ``torch.no_grad()``, returns the tensor it filled, and takes
the random generator as the keyword ``generator`` (``None`` means torch's global generator).
Xavier, Kaiming, LeCun and Caffe2-Xavier are specializations of one core,
:func:`variance_scaling_`: draw with variance ``scale / fan``. The structural fills
(orthogonal, delta-orthogonal, Dirac, eye, sparse, zeros, ones) live in ``_fills.py`` and
are re-exported here.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from ._fills import delta_orthogonal_, dirac_, eye_, ones_, orthogonal_, sparse_, zeros_
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
    "delta_orthogonal_",
    "dirac_",
    "eye_",
    "kaiming_",
    "kaiming_init",
    "lecun_normal_",
    "lecun_uniform_",
    "normal_",
    "normal_init",
    "ones_",
    "orthogonal_",
    "sparse_",
    "trunc_normal_",
    "trunc_normal_init",
    "trunc_normal_tf_",
    "truncated_normal_std",
    "uniform_",
    "uniform_init",
    "variance_scaling_",
    "xavier_",
    "xavier_init",
    "zeros_",
]

Distribution = Literal["normal", "uniform"]
ScalingDistribution = Literal["normal", "truncated_normal", "uniform"]
FanMode = Literal["fan_in", "fan_out", "fan_avg", "fan_geo_avg"]

DISTRIBUTIONS = ("normal", "uniform")  # Xavier's and Kaiming's (mmengine's choices)
SCALING_DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")  # variance_scaling_'s (JAX's)
FAN_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")

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
    if mode == "fan_geo_avg":
        return math.sqrt(fan_in * fan_out)
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


def _check_truncation(fn: str, mean: float, std: float, a: float, b: float, units: str = "") -> None:
    if not (math.isfinite(mean) and math.isfinite(std)):
        raise ConfigValueError(f"{fn} needs a finite mean and std, got mean={mean!r}, std={std!r}.")
    if std < 0:
        raise ConfigValueError(f"std must be >= 0, got {std!r}.")
    if not a < b:
        raise ConfigValueError(f"{fn} needs a < b{units}, got a={a!r}, b={b!r}.")


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
    _check_truncation("trunc_normal_", mean, std, a, b)
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


def truncated_normal_std(a: float = -2.0, b: float = 2.0) -> float:
    """The standard deviation of N(0, 1) cut to ``[a, b]``: the factor a truncation shrinks std by.

    ``√(1 + (αφ(α) − βφ(β))/Z − ((φ(α) − φ(β))/Z)²)`` with ``Z = Φ(b) − Φ(a)``. For the
    usual ``[-2, 2]`` it is 0.87962566103423978, the constant JAX divides by in
    ``variance_scaling(distribution='truncated_normal')``.

    Example:
        >>> round(truncated_normal_std(-2.0, 2.0), 6)
        0.879626
    """
    if not a < b:
        raise ConfigValueError(f"truncated_normal_std needs a < b, got a={a!r}, b={b!r}.")
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    if a + b > 0:  # the whole computation in the upper tail keeps its precision there
        a, b = -b, -a
    mass = _normal_cdf(b) - _normal_cdf(a)
    m = (pdf(a) - pdf(b)) / mass
    return math.sqrt(max(1 + (a * pdf(a) - b * pdf(b)) / mass - m * m, 0.0))


def trunc_normal_tf_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    *,
    corrected: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill ``tensor`` from N(mean, std²) truncated to ``[mean + a·std, mean + b·std]``.

    TensorFlow's ``TruncatedNormal`` and timm's ``trunc_normal_tf_``: the bounds are in units
    of ``std`` around the mean, so the default cuts at ±2 standard deviations whatever
    ``std`` is (unlike :func:`trunc_normal_`, whose bounds are absolute values):
    ``x = mean + std·z``, ``z ~ N(0, 1)`` conditioned on ``a <= z <= b``. Truncation shrinks
    the spread (by 0.8796 at ±2); ``corrected=True`` divides ``std`` by
    :func:`truncated_normal_std` first, so the values themselves have std ``std`` (as JAX's
    ``variance_scaling`` does).

    Example:
        >>> t = trunc_normal_tf_(torch.empty(1000), std=0.02)
        >>> bool(t.abs().max() <= 0.04)
        True
    """
    _check_truncation("trunc_normal_tf_", mean, std, a, b, " (in units of std)")
    if corrected:
        std = std / truncated_normal_std(a, b)
    with torch.no_grad():
        return trunc_normal_(tensor, 0.0, 1.0, a, b, generator=generator).mul_(std).add_(mean)


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
    if distribution not in SCALING_DISTRIBUTIONS:
        raise ConfigValueError(
            f"distribution must be 'normal' or 'uniform', got {distribution!r} (or 'truncated_normal': "
            "JAX's normal cut at ±2 standard deviations)."
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
    if distribution == "truncated_normal":
        return trunc_normal_tf_(tensor, 0.0, std, -2.0, 2.0, corrected=True, generator=generator)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator=generator)


def _check_distribution(distribution: str) -> None:
    """Xavier and Kaiming take mmengine's two distributions (variance_scaling_ takes three)."""
    if distribution not in DISTRIBUTIONS:
        raise ConfigValueError(f"distribution must be 'normal' or 'uniform', got {distribution!r}.")


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
    _check_distribution(distribution)
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
    _check_distribution(distribution)
    gain = calculate_gain(nonlinearity, a)
    return variance_scaling_(tensor, gain**2, mode, distribution, generator=generator)


def caffe2_xavier_(tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """Caffe2's "Xavier": U(-√(3/fan_in), √(3/fan_in)) (kaiming uniform, a=1, leaky_relu)."""
    return kaiming_(tensor, 1.0, "fan_in", "leaky_relu", "uniform", generator=generator)


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
    return variance_scaling_(tensor, 1.0, "fan_in", "truncated_normal", generator=generator)


def lecun_uniform_(tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """LeCun et al. (1998): U(-√(3/fan_in), √(3/fan_in)), variance 1/fan_in.

    Efficient BackProp. ``variance_scaling_(tensor, 1, 'fan_in', 'uniform')``.

    Example:
        >>> w = lecun_uniform_(torch.empty(64, 256))
        >>> bool(w.abs().max() <= (3 / 256) ** 0.5)
        True
    """
    return variance_scaling_(tensor, 1.0, "fan_in", "uniform", generator=generator)


# mmengine's functions on modules live in _module_init; they are part of this namespace.
from ._module_init import (  # noqa: E402
    bias_init_with_prob,
    caffe2_xavier_init,
    constant_init,
    kaiming_init,
    normal_init,
    trunc_normal_init,
    uniform_init,
    xavier_init,
)

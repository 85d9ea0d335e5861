"""The constant, normal and uniform fills, and the argument checks every fill shares.

Each fill resolves the scalars it will use in one function, ``_<name>_args(dtype, ...)``, which
raises a :class:`~torchinit.ConfigValueError` when the fill would fail or give a value that is
not finite in that dtype; the other fill modules (``_scaling``, ``_trunc_normal``, ``_fills``,
``_module_init``) build on these, and :mod:`torchinit.functional` re-exports them all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor

from .errors import ConfigTypeError, ConfigValueError
from .registry import describe_value, short_repr

Distribution = Literal["normal", "uniform"]
ScalingDistribution = Literal["normal", "truncated_normal", "uniform"]
FanMode = Literal["fan_in", "fan_out", "fan_avg", "fan_geo_avg"]

DISTRIBUTIONS = ("normal", "uniform")  # Xavier's and Kaiming's (mmengine's choices)
SCALING_DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")  # variance_scaling_'s (JAX's)
FAN_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")

# --------------------------------------------------------------------------- numbers and dtypes
# Random fills draw in these dtypes (torch has no random kernels for float8 or integers).
RANDOM_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
# How far a normal draw reaches, in standard deviations: torch's generators draw |z| < 8.6
# (Box-Muller on 53-bit uniforms: √(-2 ln 2⁻⁵³)); 10 leaves room for any device's.
NORMAL_REACH = 10.0
# Values a random fill computes go through a few roundings in their dtype, so they must stay
# this fraction below its largest finite value (bfloat16 rounds by up to 2⁻⁹ per step).
_ROUNDING_ROOM = 1 / 32


def _real(value: Any, name: str, kind: str = "a number") -> float:
    """``value`` as a float: a real number (not a bool) that is finite in float64."""
    if type(value) is float and -math.inf < value < math.inf:  # the common case, checked first
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigTypeError(f"{name} must be {kind}, got {describe_value(value)}.")
    try:
        number = float(value)
    except Exception:  # an int past float64's range (10**400), or a hostile float subclass
        number = math.inf
    if not math.isfinite(number):
        raise ConfigValueError(
            f"{name} must be finite, got {short_repr(value)}"
            f"{' (beyond float64, ±1.8e308)' if isinstance(value, int) else ''}."
        )
    return number


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _check_random_dtype(fill: str, dtype: torch.dtype) -> None:
    if dtype not in RANDOM_DTYPES:
        raise ConfigValueError(
            f"{fill} draws random values, which need a floating-point tensor (float16, bfloat16, "
            f"float32 or float64), and this one is {_dtype_name(dtype)}."
        )


_LARGEST: dict[torch.dtype, float] = {}


def _check_reach(
    dtype: torch.dtype, lo: float, hi: float, what: Callable[[], str], *, exact: bool = False
) -> None:
    """Raise unless every value in ``[lo, hi]`` is finite in ``dtype`` (``exact``: no rounding room).

    ``what()`` says what reaches that far (``"val=1e+39"``); it is only formatted for the error.
    """
    largest = _LARGEST.get(dtype)
    if largest is None:
        largest = _LARGEST[dtype] = float(torch.finfo(dtype).max)
    room = largest if exact else largest * (1 - _ROUNDING_ROOM)
    if not max(-lo, hi) <= room:  # also false for nan
        raise ConfigValueError(
            f"{what()}: more than {_dtype_name(dtype)}'s largest finite value, {largest:.6g}. Use smaller "
            "values, or keep this tensor in a wider dtype (float32 holds ±3.4e38, float64 ±1.8e308)."
        )


# --------------------------------------------------------------------------- constant, normal, uniform
def _constant_args(dtype: torch.dtype, val: Any) -> float | int | bool:
    """The scalar ``constant_`` writes into a ``dtype`` tensor: ``val`` checked against its range."""
    number = _real(val, "val")
    if dtype == torch.bool:
        if number not in (0.0, 1.0):
            raise ConfigValueError(
                f"it is a bool tensor, which holds only 0 and 1, and val={short_repr(val)}."
            )
        return bool(number)
    if not (dtype.is_floating_point or dtype.is_complex):
        if not number.is_integer():
            raise ConfigValueError(
                f"it is a {_dtype_name(dtype)} tensor and val={val!r} would be truncated to {int(number)}. "
                "Use a whole number."
            )
        whole = val if isinstance(val, int) else int(number)
        info = torch.iinfo(dtype)
        if not info.min <= whole <= info.max:
            raise ConfigValueError(
                f"val={short_repr(val)} is outside the range of {_dtype_name(dtype)} [{info.min}, {info.max}]. "
                "Use a value within it, or a wider dtype."
            )
        return whole
    _check_reach(dtype, number, number, lambda: f"val={number:g}", exact=True)
    return number


def in_place(op: Callable[..., Tensor], *args: Any, **kwargs: Any) -> Tensor:
    """``op(*args, **kwargs)``, an in-place tensor method, with grad off: under ``no_grad``
    unless the caller already turned it off (the transaction runs every piece so, and
    entering ``no_grad`` costs more than filling a small tensor)."""
    if not torch.is_grad_enabled():
        return op(*args, **kwargs)
    with torch.no_grad():
        return op(*args, **kwargs)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill ``tensor`` with ``val``."""
    return in_place(tensor.fill_, _constant_args(tensor.dtype, val))


def _normal_args(dtype: torch.dtype, mean: Any, std: Any) -> tuple[float, float]:
    """``(mean, std)`` for ``normal_`` on a ``dtype`` tensor: its draws must be finite there."""
    mean, std = _real(mean, "mean"), _real(std, "std")
    if std < 0:
        raise ConfigValueError(f"std must be >= 0, got {std!r}.")
    _check_random_dtype("normal_", dtype)
    lo, hi = mean - NORMAL_REACH * std, mean + NORMAL_REACH * std
    _check_reach(
        dtype,
        lo,
        hi,
        lambda: (
            f"N({mean:g}, {std:g}²) draws values up to {max(-lo, hi):g} "
            f"({NORMAL_REACH:g} standard deviations out)"
        ),
    )
    return mean, std


def normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, *, generator: torch.Generator | None = None
) -> Tensor:
    """Fill ``tensor`` from N(mean, std²)."""
    mean, std = _normal_args(tensor.dtype, mean, std)
    return in_place(tensor.normal_, mean, std, generator=generator)


def _uniform_args(dtype: torch.dtype, a: Any, b: Any) -> tuple[float, float]:
    """``(a, b)`` for ``uniform_`` on a ``dtype`` tensor: both bounds and ``b - a`` finite there."""
    a, b = _real(a, "a"), _real(b, "b")
    if a > b:
        raise ConfigValueError(f"uniform_ needs a <= b, got a={a!r}, b={b!r}.")
    _check_random_dtype("uniform_", dtype)
    _check_reach(dtype, a, b, lambda: f"U({a:g}, {b:g}) draws values up to {max(-a, b):g}")
    _check_reach(dtype, 0.0, b - a, lambda: f"U({a:g}, {b:g}) spans b - a = {b - a:g}")
    return a, b


def uniform_(
    tensor: Tensor, a: float = 0.0, b: float = 1.0, *, generator: torch.Generator | None = None
) -> Tensor:
    """Fill ``tensor`` from U(a, b)."""
    a, b = _uniform_args(tensor.dtype, a, b)
    return in_place(tensor.uniform_, a, b, generator=generator)

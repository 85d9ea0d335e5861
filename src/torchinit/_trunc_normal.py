"""The truncated normals: ``trunc_normal_`` (absolute bounds, mmengine's and torch's) and
``trunc_normal_tf_`` (bounds in standard deviations, TensorFlow's and timm's).

Re-exported by :mod:`torchinit.functional`; import them from there. Each resolves what it
will draw in one function (``_trunc_normal_args``, ``_trunc_normal_tf_args``) that checks the
values against the tensor's dtype before anything is written; the initializers'
``check_tensor`` calls the same functions.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ._core_fills import _check_random_dtype, _check_reach, _normal_args, _real
from .errors import ConfigValueError, InitWarning

__all__ = ["trunc_normal_", "trunc_normal_tf_", "truncated_normal_std"]


def _normal_cdf(x: float) -> float:
    """Φ(x), written with erfc so that values far in the lower tail keep their precision."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


# Elements drawn per step by the inverse-CDF path: bounds its float64 scratch memory to 32 MiB.
_TRUNC_NORMAL_CHUNK = 1 << 22
# Rejection sampling when [a, b] holds at least this much of the normal mass (at most
# two expected draws per value); the inverse-CDF path below otherwise.
_REJECTION_MIN_MASS = 0.5
# Rounds of redrawing before the values still outside [a, b] are drawn by the inverse CDF:
# with half the mass inside, one value needs more rounds with probability 2**-64. It only
# ends loops that could not end: a range narrower than the dtype's spacing at the mean.
_MAX_REDRAWS = 64
# How far the inverse-CDF path reaches, in standard deviations: Φ⁻¹ of the smallest positive
# float64 is -38.5. Values are kept within mean ± this many std of it even when u is 0.
_TAIL_REACH = 40.0


class _TruncPlan(NamedTuple):
    """How ``trunc_normal_`` fills a tensor; every value lies in ``[lo, hi]``.

    ``lo``/``hi`` are ``a``/``b`` narrowed to ``mean ± 40·std`` (no float64 draw lies
    beyond). ``path``: ``'constant'`` (fill ``lo``, which equals ``hi``), ``'rejection'``
    (draw N(mean, std²) in the tensor's dtype, redraw what falls outside) or ``'inverse'``
    (``u ~ U(cdf_lo, cdf_hi)`` in float64, ``x = mean ± std·Φ⁻¹(u)``, mirrored when the
    range lies above the mean so that Φ is only evaluated where it is small and exact).
    """

    mean: float
    std: float
    lo: float
    hi: float
    path: str
    cdf_lo: float = 0.0
    cdf_hi: float = 1.0
    mirrored: bool = False


def _check_truncation(fn: str, mean: Any, std: Any, a: Any, b: Any, units: str = "") -> tuple[float, ...]:
    mean, std, a, b = _real(mean, "mean"), _real(std, "std"), _real(a, "a"), _real(b, "b")
    if std < 0:
        raise ConfigValueError(f"std must be >= 0, got {std!r}.")
    if not a < b:
        raise ConfigValueError(f"{fn} needs a < b{units}, got a={a!r}, b={b!r}.")
    return mean, std, a, b


def _trunc_normal_args(dtype: torch.dtype, mean: Any, std: Any, a: Any, b: Any) -> _TruncPlan:
    """The plan of ``trunc_normal_`` on a ``dtype`` tensor; raises if a value could not be finite there."""
    mean, std, a, b = _check_truncation("trunc_normal_", mean, std, a, b)
    _check_random_dtype("trunc_normal_", dtype)
    lo = min(max(mean - _TAIL_REACH * std, a), b)
    hi = max(min(mean + _TAIL_REACH * std, b), a)
    if std == 0:
        plan = _TruncPlan(mean, std, lo, lo, "constant")  # the mean, clipped to [a, b]
    else:
        alpha, beta = (a - mean) / std, (b - mean) / std
        mirrored = alpha + beta > 0
        if mirrored:
            alpha, beta = -beta, -alpha
        cdf_lo, cdf_hi = _normal_cdf(alpha), _normal_cdf(beta)
        if cdf_hi - cdf_lo >= _REJECTION_MIN_MASS:
            plan = _TruncPlan(mean, std, lo, hi, "rejection", cdf_lo, cdf_hi, mirrored)
        elif cdf_lo < cdf_hi:
            plan = _TruncPlan(mean, std, lo, hi, "inverse", cdf_lo, cdf_hi, mirrored)
        else:
            # No float64 mass in the range (far in a tail, or narrower than float64 can
            # tell apart): the bound nearest the mean is where all of it sits.
            edge = lo if mirrored else hi
            plan = _TruncPlan(mean, std, edge, edge, "constant")
    _check_reach(
        dtype,
        plan.lo,
        plan.hi,
        lambda: f"its values reach {max(-plan.lo, plan.hi):g}",
        exact=plan.path == "constant",
    )
    if plan.path == "rejection":
        _normal_args(dtype, mean, std)  # the draws before the cut
    return plan


def _warn_if_mean_is_far(mean: float, std: float, a: float, b: float, stacklevel: int) -> None:
    """torch's and mmengine's warning, on their condition (the values are exact here all the same)."""
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn(
            "mean is more than 2 std from [a, b] in trunc_normal_. The distribution of values may be incorrect.",
            InitWarning,
            stacklevel=stacklevel + 1,
        )


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
    about once in 2**24 draws). Like torch and mmengine, it warns (:class:`~torchinit.InitWarning`)
    when the mean lies more than 2 std outside ``[a, b]``.

    Example:
        >>> t = trunc_normal_(torch.empty(1000), std=1.0, a=-1.0, b=1.0)
        >>> bool(t.abs().max() <= 1.0)
        True
    """
    plan = _trunc_normal_args(tensor.dtype, mean, std, a, b)
    _warn_if_mean_is_far(plan.mean, plan.std, float(a), float(b), stacklevel=2)
    return _trunc_normal_fill(tensor, plan, generator)


def _trunc_normal_fill(tensor: Tensor, plan: _TruncPlan, generator: torch.Generator | None) -> Tensor:
    with torch.no_grad():
        if plan.path == "constant":
            return tensor.fill_(plan.lo)
        # Fill a contiguous tensor through a flat view; any other through a contiguous copy.
        out = (
            tensor
            if tensor.is_contiguous()
            else torch.empty_like(tensor, memory_format=torch.contiguous_format)
        )
        flat = out.view(-1)
        if plan.path == "rejection":
            _fill_by_rejection(flat, plan, generator)
        else:
            _fill_by_inverse_cdf(flat, plan, generator)
        if out is not tensor:
            tensor.copy_(out)
        return tensor


def _fill_by_inverse_cdf(flat: Tensor, plan: _TruncPlan, generator: torch.Generator | None) -> None:
    scale = -plan.std if plan.mirrored else plan.std
    work_dtype = torch.float32 if flat.device.type == "mps" else torch.float64
    for start in range(0, flat.numel(), _TRUNC_NORMAL_CHUNK):
        part = flat[start : start + _TRUNC_NORMAL_CHUNK]
        u = torch.empty(part.shape, dtype=work_dtype, device=part.device)
        u.uniform_(plan.cdf_lo, plan.cdf_hi, generator=generator)
        part.copy_(torch.special.ndtri(u).mul_(scale).add_(plan.mean).clamp_(min=plan.lo, max=plan.hi))


def _fill_by_rejection(flat: Tensor, plan: _TruncPlan, generator: torch.Generator | None) -> None:
    """Draw N(mean, std²), then redraw the values outside ``[lo, hi]`` until none is left.

    Exact for any range, and the fast path when the range holds most of the mass (the
    usual ``std=0.02`` in ``[-2, 2]``: one ``normal_`` pass and one min/max pass).
    """
    a, b = plan.lo, plan.hi
    flat.normal_(plan.mean, plan.std, generator=generator)
    if not flat.numel() or flat.is_meta:
        return
    low, high = torch.aminmax(flat)
    if float(low) >= a and float(high) <= b:
        return
    bad = torch.logical_or(flat < a, flat > b).nonzero().squeeze(1)
    for _ in range(_MAX_REDRAWS):
        if not bad.numel():
            return
        redraw = torch.empty(bad.numel(), dtype=flat.dtype, device=flat.device)
        redraw.normal_(plan.mean, plan.std, generator=generator)
        flat[bad] = redraw
        bad = bad[torch.logical_or(redraw < a, redraw > b)]
    if bad.numel():
        rest = torch.empty(bad.numel(), dtype=flat.dtype, device=flat.device)
        _fill_by_inverse_cdf(rest, plan, generator)
        flat[bad] = rest


def truncated_normal_std(a: float = -2.0, b: float = 2.0) -> float:
    """The standard deviation of N(0, 1) cut to ``[a, b]``: the factor a truncation shrinks std by.

    ``√(1 + (αφ(α) − βφ(β))/Z − ((φ(α) − φ(β))/Z)²)`` with ``Z = Φ(b) − Φ(a)``. For the
    usual ``[-2, 2]`` it is 0.87962566103423978, the constant JAX divides by in
    ``variance_scaling(distribution='truncated_normal')``.

    Raises:
        ConfigValueError: ``a >= b``, or the range is so far in a tail (or so narrow) that
            float64 cannot tell its standard deviation from 0.

    Example:
        >>> round(truncated_normal_std(-2.0, 2.0), 6)
        0.879626
    """
    a, b = _real(a, "a"), _real(b, "b")
    if not a < b:
        raise ConfigValueError(f"truncated_normal_std needs a < b, got a={a!r}, b={b!r}.")
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    if a + b > 0:  # the whole computation in the upper tail keeps its precision there
        a, b = -b, -a
    mass = _normal_cdf(b) - _normal_cdf(a)
    shrink = 0.0
    if mass > 0:
        m = (pdf(a) - pdf(b)) / mass
        shrink = math.sqrt(max(1 + (a * pdf(a) - b * pdf(b)) / mass - m * m, 0.0))
    if not shrink > 0:
        raise ConfigValueError(
            f"the standard deviation of N(0, 1) cut to [{a:g}, {b:g}] is 0 in float64: the range is too "
            "far in a tail or too narrow to correct for. Use corrected=False, or a range nearer 0."
        )
    return shrink


def _trunc_normal_tf_args(
    dtype: torch.dtype, mean: Any, std: Any, a: Any, b: Any, corrected: bool = False
) -> tuple[_TruncPlan, float, float]:
    """``(plan of z, mean, std)`` of ``trunc_normal_tf_``: values ``mean + std·z``, z cut to [a, b]."""
    mean, std, a, b = _check_truncation("trunc_normal_tf_", mean, std, a, b, " (in units of std)")
    if corrected:
        std = std / truncated_normal_std(a, b)
    z = _trunc_normal_args(dtype, 0.0, 1.0, a, b)
    lo, hi = std * z.lo, std * z.hi
    _check_reach(dtype, lo, hi, lambda: f"std·z reaches {max(-lo, hi):g} (std={std:g})")
    lo, hi = mean + std * z.lo, mean + std * z.hi
    _check_reach(dtype, lo, hi, lambda: f"its values reach {max(abs(lo), abs(hi)):g}")
    return z, mean, std


def _trunc_normal_tf_fill(
    tensor: Tensor, args: tuple[_TruncPlan, float, float], generator: torch.Generator | None
) -> Tensor:
    z, mean, std = args
    with torch.no_grad():
        return _trunc_normal_fill(tensor, z, generator).mul_(std).add_(mean)


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
    return _trunc_normal_tf_fill(
        tensor, _trunc_normal_tf_args(tensor.dtype, mean, std, a, b, corrected), generator
    )

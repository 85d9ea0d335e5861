"""What a fill promises about a tensor, and whether a sample keeps that promise.

Written from the formulas (PyTorch's ``torch.nn.init`` documentation and the truncated-normal
moments), not from torchinit's code, so that a mistake in torchinit cannot hide in the check.

Tolerances come from the tensor's size: a sample of ``n`` values from a distribution with
standard deviation ``s`` and kurtosis ``k`` has a mean within ``Z * s / sqrt(n)`` of the true
mean and a standard deviation within ``Z * s * sqrt((k - 1) / (4 n))`` of ``s``, except with a
probability far below one in a million for ``Z = 6``. On a 3x3 conv with 64 in and out
channels (36,864 values) that is a 1.9% band on the std: Kaiming fan_out/relu
(std 0.0589) and Xavier uniform (std 0.0417) are 40 bands apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["Dist", "Z", "check_sample", "check_same_distribution", "constant", "fan_in_out", "kaiming",
           "normal", "truncated_normal", "uniform", "xavier"]

#: Width of the acceptance band, in standard errors.
Z = 6.0

#: Relative slack on top of the statistical band (float32 rounding of the fill itself).
_FLOAT_SLACK = 1e-6


@dataclass(frozen=True)
class Dist:
    """The law a fill draws from, or the constant it writes.

    Attributes:
        text: how the fill reads (``'kaiming_normal_(a=0, mode=fan_out, nonlinearity=relu)'``).
        mean: the expected mean of the values.
        std: their expected standard deviation (0 for a constant).
        kurtosis: their kurtosis (3 normal, 1.8 uniform): sets the band on the sample std.
        low: the smallest value the fill can produce (None: unbounded).
        high: the largest.
        constant: the value every element gets, for constant fills.
    """

    text: str
    mean: float
    std: float
    kurtosis: float = 3.0
    low: float | None = None
    high: float | None = None
    constant: float | None = None


def constant(value: float, text: str | None = None) -> Dist:
    return Dist(text or f"constant({value:g})", float(value), 0.0, constant=float(value))


def normal(mean: float, std: float, text: str | None = None) -> Dist:
    return Dist(text or f"normal(mean={mean:g}, std={std:g})", float(mean), float(std))


def uniform(low: float, high: float, text: str | None = None) -> Dist:
    if low == high:
        return constant(low, text)
    return Dist(text or f"uniform({low:g}, {high:g})", (low + high) / 2, (high - low) / math.sqrt(12), 1.8,
                low=float(low), high=float(high))


def truncated_normal(mean: float, std: float, a: float, b: float, text: str | None = None) -> Dist:
    """N(mean, std^2) restricted to [a, b] (absolute bounds), with its exact mean and std."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    pdf = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda x: (1 + math.erf(x / math.sqrt(2))) / 2  # noqa: E731
    mass = cdf(beta) - cdf(alpha)
    shift = (pdf(alpha) - pdf(beta)) / mass
    var = 1 + (alpha * pdf(alpha) - beta * pdf(beta)) / mass - shift * shift
    return Dist(text or f"trunc_normal(mean={mean:g}, std={std:g}, a={a:g}, b={b:g})", mean + std * shift,
                std * math.sqrt(var), 3.0, low=float(a), high=float(b))


def fan_in_out(shape: tuple[int, ...]) -> tuple[int, int]:
    """PyTorch's fans: ``shape[1] * receptive field`` and ``shape[0] * receptive field``."""
    if len(shape) < 2:
        raise ValueError(f"fans need at least 2 dimensions, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def kaiming(shape: tuple[int, ...], a: float, mode: str, nonlinearity: str, distribution: str) -> Dist:
    """He et al.: std = gain(nonlinearity, a) / sqrt(fan); uniform draws have the same std."""
    fan_in, fan_out = fan_in_out(shape)
    fan = fan_in if mode == "fan_in" else fan_out
    std = torch.nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    text = f"kaiming_{distribution}(a={a:g}, mode={mode}, nonlinearity={nonlinearity})"
    if distribution == "uniform":
        bound = math.sqrt(3.0) * std
        return uniform(-bound, bound, text)
    return normal(0.0, std, text)


def xavier(shape: tuple[int, ...], gain: float, distribution: str) -> Dist:
    """Glorot & Bengio: std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_out(shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    text = f"xavier_{distribution}(gain={gain:g})"
    if distribution == "uniform":
        bound = math.sqrt(3.0) * std
        return uniform(-bound, bound, text)
    return normal(0.0, std, text)


def _moments(values: torch.Tensor) -> tuple[int, float, float]:
    """Count, mean and (population) std, accumulated in float64."""
    v = values.detach().reshape(-1).to(torch.float64)
    if v.numel() < 2:
        return v.numel(), float(v.mean()), 0.0
    std, mean = torch.std_mean(v, correction=0)
    return v.numel(), float(mean), float(std)


def _drop_values_at_far_bounds(values: torch.Tensor, dist: Dist) -> tuple[torch.Tensor, int]:
    """``values`` without elements equal to a bound more than ``Z`` std from the mean, and their count.

    mmengine's ``trunc_normal_`` draws ``uniform(2 cdf(a) - 1, 2 cdf(b) - 1)`` in float32 and maps
    it through ``erfinv``. With the usual ``a=-2, b=2`` and ``std=0.02`` that range is ``[-1, 1)``;
    about once in 2**24 draws the uniform is exactly -1, ``erfinv`` gives ``-inf`` and the clamp
    writes ``a`` itself: a value 100 std out, which alone moves the std of a 590k-value tensor by
    0.9%. Such values are a flaw of that sampler, not of the law, so they are set aside here
    (at most a few per tensor: more is still a failure).
    """
    far = [b for b in (dist.low, dist.high) if b is not None and abs(b - dist.mean) > Z * dist.std]
    lo, hi = (float(x) for x in torch.aminmax(values))
    far = [b for b in far if b in (lo, hi)]  # a bound no value reaches costs no pass
    if not far:
        return values, 0
    keep = values != far[0]
    for bound in far[1:]:
        keep &= values != bound
    return values[keep], int(values.numel() - keep.sum())


def check_sample(values: torch.Tensor, dist: Dist) -> str | None:
    """None if ``values`` keep ``dist``'s promise, else a sentence saying how they do not.

    Constants must hold in every element, exactly (as float32 writes them); random fills
    must have their mean and std inside the size-dependent band and stay inside the bounds
    (values sitting exactly on a far bound are set aside: :func:`_drop_values_at_far_bounds`).
    """
    if values.numel() == 0:
        return None
    if dist.constant is not None:
        expected = torch.full_like(values, dist.constant)
        if torch.equal(values, expected):
            return None
        wrong = int((values != expected).sum())
        return f"expected every value {dist.constant:g} ({dist.text}); {wrong} of {values.numel()} differ"
    problems = []
    values, at_bounds = _drop_values_at_far_bounds(values, dist)
    if at_bounds > 2 + values.numel() / 2**20:
        problems.append(f"{at_bounds} values sit exactly on a bound {Z:g}+ std from the mean")
    n, mean, std = _moments(values)
    mean_band = Z * dist.std / math.sqrt(n) + _FLOAT_SLACK * max(abs(dist.mean), dist.std)
    if abs(mean - dist.mean) > mean_band:
        problems.append(f"mean {mean:.4g}, expected {dist.mean:.4g} +- {mean_band:.2g}")
    if n > 1:
        std_band = Z * dist.std * math.sqrt(max(dist.kurtosis - 1.0, 0.2) / (4 * n)) + _FLOAT_SLACK * dist.std
        if abs(std - dist.std) > std_band:
            problems.append(f"std {std:.4g}, expected {dist.std:.4g} +- {std_band:.2g}")
    lo, hi = (float(x) for x in torch.aminmax(values))
    if dist.low is not None and lo < dist.low - 1e-6 * max(1.0, abs(dist.low)):
        problems.append(f"min {lo:.4g} below {dist.low:.4g}")
    if dist.high is not None and hi > dist.high + 1e-6 * max(1.0, abs(dist.high)):
        problems.append(f"max {hi:.4g} above {dist.high:.4g}")
    return f"{dist.text}: " + "; ".join(problems) if problems else None


def check_same_distribution(values: torch.Tensor, reference: torch.Tensor) -> str | None:
    """None if two independent samples plausibly share one law (mean and std within the band).

    For tensors whose fill is not known by name (a model's own code that writes through
    ``tensor.normal_()``), the reference is mmengine's sample; both samples' errors count,
    hence the sqrt(2). The kurtosis of the band is estimated from the reference.
    """
    if values.shape != reference.shape:
        return f"shape {tuple(values.shape)}, mmengine's {tuple(reference.shape)}"
    n, mean, std = _moments(values)
    _, ref_mean, ref_std = _moments(reference)
    if n < 2 or ref_std == 0.0:
        if torch.equal(values, reference):
            return None
        return f"differs from mmengine's {reference.numel()} value(s)"
    centered = reference.detach().reshape(-1).to(torch.float64) - ref_mean
    kurt = float((centered**4).mean()) / ref_std**4
    mean_band = Z * ref_std * math.sqrt(2.0 / n)
    std_band = Z * ref_std * math.sqrt(2.0 * max(kurt - 1.0, 0.2) / (4 * n))
    problems = []
    if abs(mean - ref_mean) > mean_band:
        problems.append(f"mean {mean:.4g}, mmengine's sample {ref_mean:.4g} +- {mean_band:.2g}")
    if abs(std - ref_std) > std_band:
        problems.append(f"std {std:.4g}, mmengine's sample {ref_std:.4g} +- {std_band:.2g}")
    return "same law as mmengine's sample: " + "; ".join(problems) if problems else None

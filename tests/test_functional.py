"""The tensor fills draw from the distributions their docstrings state, and the functions on
modules behave as mmcv/mmengine document them.

Every random fill is checked on a large tensor with a fixed seed: a Kolmogorov-Smirnov
statistic against the exact CDF, plus a check of the standard deviation tight enough that a
wrong fan mode, a wrong gain or a missing sqrt(3) fails.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from _helpers import gen, one_thread  # noqa: F401  (one_thread: autouse fixture)
from conftest import assert_unchanged, state_of
from torch import Tensor, nn

import torchinit
from torchinit import ConfigError, ConfigTypeError, ConfigValueError, InitWarning
from torchinit import functional as F

# A conv weight (out=64, in=256, 3x3): fan_in != fan_out, and 147,456 draws per sample.
SHAPE = (64, 256, 3, 3)
FAN_IN = 256 * 9
FAN_OUT = 64 * 9
N = math.prod(SHAPE)

# Relative tolerance for a sample std. Its standard error is ~0.2 % at N draws, and the
# alternatives a bug would produce differ by far more (see the test on the tolerance below).
STD_RTOL = 0.01

Cdf = Callable[[Tensor], Tensor]


# --------------------------------------------------------------------------- helpers
def phi(z: Tensor) -> Tensor:
    """The standard normal CDF Φ, via erfc so that both tails stay accurate."""
    return 0.5 * torch.special.erfc(-z / math.sqrt(2.0))


def normal_cdf(mean: float, std: float) -> Cdf:
    return lambda x: phi((x - mean) / std)


def uniform_cdf(a: float, b: float) -> Cdf:
    return lambda x: ((x - a) / (b - a)).clamp(0.0, 1.0)


def _q(z: float) -> float:
    """P(Z > z) for standard normal Z; exact far in the upper tail."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _mass(alpha: float, beta: float) -> float:
    """P(alpha < Z < beta), computed in whichever tail keeps it exact."""
    return _q(alpha) - _q(beta) if alpha + beta > 0 else _q(-beta) - _q(-alpha)


def trunc_normal_cdf(mean: float, std: float, a: float, b: float) -> Cdf:
    """The CDF of N(mean, std²) conditioned on [a, b] (a and b absolute)."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    mass = _mass(alpha, beta)

    def cdf(x: Tensor) -> Tensor:
        z = ((x - mean) / std).clamp(alpha, beta)
        if alpha + beta > 0:  # P(alpha < Z < z) = Q(alpha) - Q(z)
            return (_q(alpha) - 0.5 * torch.special.erfc(z / math.sqrt(2.0))) / mass
        return (phi(z) - _q(-alpha)) / mass  # Φ(z) - Φ(alpha)

    return cdf


def trunc_normal_moments(mean: float, std: float, a: float, b: float) -> tuple[float, float]:
    """Mean and std of N(mean, std²) truncated to [a, b] (textbook formulas)."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    mass = _mass(alpha, beta)
    m = (pdf(alpha) - pdf(beta)) / mass
    var = 1 + (alpha * pdf(alpha) - beta * pdf(beta)) / mass - m * m
    return mean + std * m, std * math.sqrt(var)


def ks_statistic(samples: Tensor, cdf: Cdf) -> float:
    """Kolmogorov-Smirnov D: the largest gap between the empirical CDF and ``cdf``."""
    x = np.sort(samples.detach().cpu().double().numpy().ravel())
    f = cdf(torch.from_numpy(x)).numpy()
    n = x.size
    above = np.arange(1, n + 1) / n - f  # empirical CDF just after each sample, minus F
    below = f - np.arange(0, n) / n  # F minus the empirical CDF just before each sample
    return float(max(above.max(), below.max()))


def ks_critical(n: int, significance: float = 1e-3) -> float:
    """The asymptotic critical value of D at ``significance`` for ``n`` samples."""
    return math.sqrt(-0.5 * math.log(significance / 2)) / math.sqrt(n)


def assert_fits(samples: Tensor, cdf: Cdf) -> None:
    d, crit = ks_statistic(samples, cdf), ks_critical(samples.numel())
    assert d < crit, f"KS statistic {d:.5f} >= critical value {crit:.5f}: not this distribution"


def assert_std(samples: Tensor, expected: float) -> None:
    got = float(samples.detach().double().std())
    assert got == pytest.approx(expected, rel=STD_RTOL), f"std {got:.6g}, expected {expected:.6g}"


def assert_mean(samples: Tensor, expected: float, std: float) -> None:
    # Six standard errors of the sample mean.
    assert abs(float(samples.detach().double().mean()) - expected) < 6 * std / math.sqrt(samples.numel())


def assert_normal(samples: Tensor, mean: float, std: float) -> None:
    assert_fits(samples, normal_cdf(mean, std))
    assert_std(samples, std)
    assert_mean(samples, mean, std)


def assert_uniform(samples: Tensor, a: float, b: float) -> None:
    assert_fits(samples, uniform_cdf(a, b))
    assert a <= float(samples.min()) and float(samples.max()) <= b
    # The extremes reach the bounds: a bound too wide or too narrow by any real factor fails.
    width = b - a
    assert float(samples.min()) < a + 1e-3 * width and float(samples.max()) > b - 1e-3 * width
    assert_std(samples, width / math.sqrt(12))


def assert_same_draws(ours: Tensor, expected: Tensor) -> None:
    """Equal up to float rounding: the same draws, scaled by the same std or bound."""
    assert torch.allclose(ours.detach(), expected, rtol=1e-6, atol=0.0)


def weight() -> Tensor:
    return torch.empty(SHAPE)


FAR_MEAN = r"mean is more than 2 std from \[a, b\] in trunc_normal_\. The distribution of values may be incorrect\."


def trunc_normal(t: Tensor, mean: float, std: float, a: float, b: float, **kwargs: Any) -> Tensor:
    """``F.trunc_normal_``, expecting torch's and mmengine's warning exactly when their condition holds."""
    far = mean < a - 2 * std or mean > b + 2 * std
    with pytest.warns(InitWarning, match=FAR_MEAN) if far else contextlib.nullcontext():
        return F.trunc_normal_(t, mean, std, a, b, **kwargs)


def conv() -> nn.Conv2d:
    """A conv whose weight has SHAPE."""
    return nn.Conv2d(256, 64, 3)


# --------------------------------------------------------------------------- the test helpers themselves
def test_ks_check_accepts_torch_normal_draws() -> None:
    assert_fits(torch.empty(N).normal_(0.0, 1.0, generator=gen()), normal_cdf(0.0, 1.0))


def test_ks_check_rejects_a_normal_with_five_percent_larger_std() -> None:
    samples = torch.empty(N).normal_(0.0, 1.05, generator=gen())
    assert ks_statistic(samples, normal_cdf(0.0, 1.0)) > ks_critical(N)


def test_ks_check_rejects_a_uniform_whose_bound_lacks_sqrt_3() -> None:
    samples = torch.empty(N).uniform_(-1.0, 1.0, generator=gen())
    assert ks_statistic(samples, uniform_cdf(-math.sqrt(3), math.sqrt(3))) > ks_critical(N)


def test_std_tolerance_tells_apart_fan_modes_and_gains() -> None:
    relu, leaky = math.sqrt(2.0), math.sqrt(2.0 / (1 + 0.2**2))
    candidates = {
        "relu fan_in": relu / math.sqrt(FAN_IN),
        "relu fan_out": relu / math.sqrt(FAN_OUT),
        "leaky_relu(0.2) fan_in": leaky / math.sqrt(FAN_IN),
        "linear fan_in": 1.0 / math.sqrt(FAN_IN),
        "xavier": math.sqrt(2.0 / (FAN_IN + FAN_OUT)),
    }
    values = sorted(candidates.values())
    assert all(hi / lo - 1 > 1.5 * STD_RTOL for lo, hi in zip(values, values[1:]))


def test_trunc_normal_moment_formulas_match_a_known_case() -> None:
    # N(0, 1) cut to [-1, 1]: variance 1 - 2φ(1)/(Φ(1) - Φ(-1)), with the tabulated
    # φ(1) = 0.24197072451914337 and Φ(1) - Φ(-1) = 0.6826894921370859.
    mean, std = trunc_normal_moments(0.0, 1.0, -1.0, 1.0)
    assert mean == pytest.approx(0.0, abs=1e-12)
    assert std**2 == pytest.approx(1 - 2 * 0.24197072451914337 / 0.6826894921370859, rel=1e-12)


# --------------------------------------------------------------------------- normal_, uniform_, constant_
def test_normal_draws_from_normal_with_the_given_mean_and_std() -> None:
    assert_normal(F.normal_(weight(), 0.5, 2.0, generator=gen()), 0.5, 2.0)


def test_normal_defaults_to_the_standard_normal() -> None:
    assert_normal(F.normal_(weight(), generator=gen()), 0.0, 1.0)


def test_uniform_draws_from_uniform_between_a_and_b() -> None:
    assert_uniform(F.uniform_(weight(), -3.0, 5.0, generator=gen()), -3.0, 5.0)


def test_uniform_defaults_to_zero_one() -> None:
    assert_uniform(F.uniform_(weight(), generator=gen()), 0.0, 1.0)


def test_constant_fills_every_element_with_the_value() -> None:
    assert torch.equal(F.constant_(weight(), 0.25), torch.full(SHAPE, 0.25))


def test_normal_rejects_a_negative_std() -> None:
    with pytest.raises(ConfigValueError, match="std must be >= 0"):
        F.normal_(weight(), 0.0, -1.0)


def test_uniform_rejects_a_above_b() -> None:
    with pytest.raises(ConfigValueError, match="a <= b"):
        F.uniform_(weight(), 1.0, 0.0)


# --------------------------------------------------------------------------- trunc_normal_
def test_trunc_normal_with_std_002_in_default_bounds_is_an_untruncated_normal() -> None:
    # a=-2 and b=2 are absolute: 100 standard deviations away, so nothing is cut.
    assert_normal(F.trunc_normal_(weight(), std=0.02, generator=gen()), 0.0, 0.02)


def test_trunc_normal_with_unit_std_in_minus_one_one_matches_the_truncated_distribution() -> None:
    t = F.trunc_normal_(weight(), mean=0.0, std=1.0, a=-1.0, b=1.0, generator=gen())
    assert_fits(t, trunc_normal_cdf(0.0, 1.0, -1.0, 1.0))
    mean, std = trunc_normal_moments(0.0, 1.0, -1.0, 1.0)
    assert std == pytest.approx(0.539560, rel=1e-5)  # well below the untruncated 1
    assert_std(t, std)
    assert_mean(t, mean, std)


@pytest.mark.parametrize(
    ("mean", "std", "a", "b"),
    [
        pytest.param(0.0, 1.0, -2.0, 2.0, id="defaults"),
        pytest.param(1.0, 2.0, 0.0, 5.0, id="asymmetric-range"),
        pytest.param(5.0, 1.0, -2.0, 2.0, id="mean-above-range"),
        pytest.param(-3.0, 0.5, -2.0, 2.0, id="mean-below-range"),
        pytest.param(0.0, 10.0, -1.0, 1.0, id="range-much-narrower-than-std"),
    ],
)
def test_trunc_normal_matches_the_exact_truncated_cdf_and_moments(mean: float, std: float, a: float, b: float) -> None:
    t = trunc_normal(weight(), mean, std, a, b, generator=gen())
    assert_fits(t, trunc_normal_cdf(mean, std, a, b))
    t_mean, t_std = trunc_normal_moments(mean, std, a, b)
    assert_std(t, t_std)
    assert_mean(t, t_mean, t_std)


@pytest.mark.parametrize(
    ("mean", "std", "a", "b"),
    [(0.0, 1.0, -2.0, 2.0), (0.0, 1.0, -0.1, 0.1), (3.0, 1.0, -1.0, 1.0), (0.0, 0.02, -2.0, 2.0), (0.0, 1.0, 10.0, 11.0)],
)
def test_trunc_normal_values_always_lie_within_a_and_b(mean: float, std: float, a: float, b: float) -> None:
    t = trunc_normal(weight(), mean, std, a, b, generator=gen())
    assert a <= float(t.min()) and float(t.max()) <= b


def test_trunc_normal_bounds_are_absolute_not_multiples_of_std() -> None:
    # Read as multiples of std, [-1, 1] would be [-10, 10]; absolute, it cuts N(0, 100) to
    # a nearly flat slice.
    t = F.trunc_normal_(weight(), std=10.0, a=-1.0, b=1.0, generator=gen())
    assert float(t.abs().max()) <= 1.0
    assert float(t.abs().max()) > 0.999


def test_trunc_normal_samples_a_range_far_in_the_upper_tail() -> None:
    # N(0, 1) cut to [10, 11]: the mass piles up just above 10 (mean 10.098), it is not all at 11.
    t = trunc_normal(weight(), 0.0, 1.0, 10.0, 11.0, generator=gen())
    assert_fits(t, trunc_normal_cdf(0.0, 1.0, 10.0, 11.0))
    mean, std = trunc_normal_moments(0.0, 1.0, 10.0, 11.0)
    assert mean == pytest.approx(10.098, abs=1e-3)
    assert_mean(t, mean, std)


def test_trunc_normal_samples_a_range_far_in_the_lower_tail() -> None:
    t = trunc_normal(weight(), 0.0, 1.0, -11.0, -10.0, generator=gen())
    assert_fits(t, trunc_normal_cdf(0.0, 1.0, -11.0, -10.0))


def test_trunc_normal_with_small_std_never_returns_a_bound_100_std_away() -> None:
    # The float32 inverse-CDF method (torch.nn.init.trunc_normal_) returns exactly -2 or 2
    # about once in 2**24 draws; with this seed it did so within these 2**22.
    t = F.trunc_normal_(torch.empty(1 << 22), std=0.02, generator=gen(1))
    assert float(t.abs().max()) < 10 * 0.02


def test_trunc_normal_with_zero_std_fills_the_mean_clipped_to_the_range() -> None:
    assert torch.equal(F.trunc_normal_(torch.empty(5), mean=0.5, std=0.0), torch.full((5,), 0.5))
    with pytest.warns(InitWarning, match=FAR_MEAN):
        assert torch.equal(F.trunc_normal_(torch.empty(5), mean=7.0, std=0.0), torch.full((5,), 2.0))


@pytest.mark.parametrize(
    ("mean", "std", "a", "b"),
    [(5.0, 1.0, -2.0, 2.0), (4.0, 1.0, -2.0, 2.0), (-4.5, 1.0, -2.0, 2.0), (0.0, 1.0, 10.0, 11.0), (0.0, 1.0, -2.0, 2.0)],
)
def test_trunc_normal_warns_exactly_when_torch_does(mean: float, std: float, a: float, b: float) -> None:
    with warnings.catch_warnings(record=True) as torch_said:
        warnings.simplefilter("always")
        nn.init.trunc_normal_(torch.empty(4), mean, std, a, b)
    with warnings.catch_warnings(record=True) as we_said:
        warnings.simplefilter("always")
        F.trunc_normal_(torch.empty(4), mean, std, a, b)
    assert [str(w.message).replace("nn.init.", "") for w in torch_said] == [str(w.message) for w in we_said]
    assert all(issubclass(w.category, InitWarning) and issubclass(w.category, UserWarning) for w in we_said)


def test_trunc_normal_init_warns_too_and_still_fills() -> None:
    conv = nn.Conv2d(2, 2, 1)
    with pytest.warns(InitWarning, match=FAR_MEAN):
        F.trunc_normal_init(conv, mean=0.0, std=1.0, a=10.0, b=11.0)
    w = conv.weight.detach()
    assert 10.0 <= float(w.min()) and float(w.max()) <= 11.0


def test_trunc_normal_fills_a_non_contiguous_tensor_in_place() -> None:
    base = torch.zeros(256, 64 * 9)
    view = base.t()
    assert not view.is_contiguous()
    assert F.trunc_normal_(view, std=1.0, a=-1.0, b=1.0, generator=gen()) is view
    assert_fits(base, trunc_normal_cdf(0.0, 1.0, -1.0, 1.0))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_trunc_normal_fills_other_floating_dtypes_within_bounds(dtype: torch.dtype) -> None:
    t = F.trunc_normal_(torch.empty(SHAPE, dtype=dtype), std=1.0, a=-1.0, b=1.0, generator=gen())
    assert t.dtype == dtype
    assert float(t.abs().max()) <= 1.0
    assert_std(t, trunc_normal_moments(0.0, 1.0, -1.0, 1.0)[1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(a=1.0, b=1.0), "a < b"),
        (dict(a=2.0, b=-2.0), "a < b"),
        (dict(std=-0.1), "std must be >= 0"),
        (dict(std=math.nan), "finite"),
        (dict(mean=math.inf), "finite"),
    ],
)
def test_trunc_normal_rejects_bad_arguments(kwargs: dict[str, float], match: str) -> None:
    t = torch.zeros(4)
    with pytest.raises(ConfigValueError, match=match):
        F.trunc_normal_(t, **kwargs)
    assert torch.equal(t, torch.zeros(4))


def test_trunc_normal_is_exported_from_the_top_level_package() -> None:
    assert torchinit.trunc_normal_ is F.trunc_normal_
    assert "trunc_normal_" in torchinit.__all__


def test_trunc_normal_defaults_are_mean_0_std_1_bounds_minus_2_and_2() -> None:
    assert defaults(F.trunc_normal_) == dict(mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None)


# --------------------------------------------------------------------------- variance scaling
@pytest.mark.parametrize(
    ("mode", "fan"),
    [("fan_in", FAN_IN), ("fan_out", FAN_OUT), ("fan_avg", (FAN_IN + FAN_OUT) / 2)],
)
def test_variance_scaling_normal_has_variance_scale_over_fan(mode: str, fan: float) -> None:
    t = F.variance_scaling_(weight(), 3.0, mode, "normal", generator=gen())  # type: ignore[arg-type]
    assert_normal(t, 0.0, math.sqrt(3.0 / fan))


@pytest.mark.parametrize(
    ("mode", "fan"),
    [("fan_in", FAN_IN), ("fan_out", FAN_OUT), ("fan_avg", (FAN_IN + FAN_OUT) / 2)],
)
def test_variance_scaling_uniform_is_bounded_by_sqrt_3_scale_over_fan(mode: str, fan: float) -> None:
    t = F.variance_scaling_(weight(), 3.0, mode, "uniform", generator=gen())  # type: ignore[arg-type]
    bound = math.sqrt(3.0 * 3.0 / fan)
    assert_uniform(t, -bound, bound)


def test_variance_scaling_defaults_to_scale_1_fan_in_normal() -> None:
    assert_normal(F.variance_scaling_(weight(), generator=gen()), 0.0, math.sqrt(1.0 / FAN_IN))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(distribution="foo"), "distribution must be 'normal' or 'uniform'"),
        (dict(mode="fan_sum"), "mode must be one of fan_in, fan_out, fan_avg"),
        (dict(scale=-1.0), "scale must be >= 0"),
    ],
)
def test_variance_scaling_rejects_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    t = torch.zeros(4, 4)
    with pytest.raises(ConfigValueError, match=match):
        F.variance_scaling_(t, **kwargs)
    assert torch.equal(t, torch.zeros(4, 4))


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 3, 3, 3)])
def test_variance_scaling_leaves_a_tensor_without_elements_as_it_is(shape: tuple[int, ...]) -> None:
    t = torch.empty(shape)
    assert F.variance_scaling_(t, 2.0, "fan_out") is t
    assert F.kaiming_(t) is t and F.xavier_(t) is t


# --------------------------------------------------------------------------- xavier_
@pytest.mark.parametrize("gain", [1.0, 3.0])
def test_xavier_normal_std_is_gain_times_sqrt_2_over_fan_in_plus_fan_out(gain: float) -> None:
    t = F.xavier_(weight(), gain, "normal", generator=gen())
    assert_normal(t, 0.0, gain * math.sqrt(2.0 / (FAN_IN + FAN_OUT)))


@pytest.mark.parametrize("gain", [1.0, 3.0])
def test_xavier_uniform_bound_is_gain_times_sqrt_6_over_fan_in_plus_fan_out(gain: float) -> None:
    t = F.xavier_(weight(), gain, "uniform", generator=gen())
    bound = gain * math.sqrt(6.0 / (FAN_IN + FAN_OUT))
    assert_uniform(t, -bound, bound)


def test_xavier_defaults_to_gain_1_normal() -> None:
    assert defaults(F.xavier_) == dict(gain=1.0, distribution="normal", generator=None)
    assert_normal(F.xavier_(weight(), generator=gen()), 0.0, math.sqrt(2.0 / (FAN_IN + FAN_OUT)))


@pytest.mark.parametrize("distribution", ["normal", "uniform"])
def test_xavier_draws_what_torch_xavier_draws_from_the_same_generator(distribution: str) -> None:
    ours = F.xavier_(weight(), 2.0, distribution, generator=gen())  # type: ignore[arg-type]
    torch_fill = nn.init.xavier_normal_ if distribution == "normal" else nn.init.xavier_uniform_
    assert_same_draws(ours, torch_fill(weight(), gain=2.0, generator=gen()))


# --------------------------------------------------------------------------- kaiming_
def test_kaiming_defaults_to_fan_out_relu_normal() -> None:
    assert defaults(F.kaiming_) == dict(
        a=0.0, mode="fan_out", nonlinearity="relu", distribution="normal", generator=None
    )
    assert_normal(F.kaiming_(weight(), generator=gen()), 0.0, math.sqrt(2.0 / FAN_OUT))


def test_kaiming_fan_in_divides_by_the_input_fan() -> None:
    assert_normal(F.kaiming_(weight(), mode="fan_in", generator=gen()), 0.0, math.sqrt(2.0 / FAN_IN))


@pytest.mark.parametrize(("mode", "fan"), [("fan_in", FAN_IN), ("fan_out", FAN_OUT)])
def test_kaiming_uniform_bound_is_gain_times_sqrt_3_over_fan(mode: str, fan: int) -> None:
    t = F.kaiming_(weight(), mode=mode, distribution="uniform", generator=gen())  # type: ignore[arg-type]
    bound = math.sqrt(2.0) * math.sqrt(3.0 / fan)
    assert_uniform(t, -bound, bound)


def test_kaiming_leaky_relu_uses_a_as_the_negative_slope() -> None:
    t = F.kaiming_(weight(), a=0.2, mode="fan_in", nonlinearity="leaky_relu", generator=gen())
    assert_normal(t, 0.0, math.sqrt(2.0 / (1 + 0.2**2)) / math.sqrt(FAN_IN))


def test_kaiming_ignores_a_for_relu() -> None:
    t = F.kaiming_(weight(), a=0.2, mode="fan_in", nonlinearity="relu", generator=gen())
    assert_normal(t, 0.0, math.sqrt(2.0 / FAN_IN))


@pytest.mark.parametrize(("nonlinearity", "gain"), [("linear", 1.0), ("tanh", 5.0 / 3), ("selu", 0.75)])
def test_kaiming_scales_by_the_gain_of_the_nonlinearity(nonlinearity: str, gain: float) -> None:
    t = F.kaiming_(weight(), mode="fan_in", nonlinearity=nonlinearity, generator=gen())
    assert_normal(t, 0.0, gain / math.sqrt(FAN_IN))


@pytest.mark.parametrize("distribution", ["normal", "uniform"])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_draws_what_torch_kaiming_draws_from_the_same_generator(mode: str, distribution: str) -> None:
    ours = F.kaiming_(weight(), 0.1, mode, "leaky_relu", distribution, generator=gen())  # type: ignore[arg-type]
    torch_fill = nn.init.kaiming_normal_ if distribution == "normal" else nn.init.kaiming_uniform_
    expected = torch_fill(weight(), a=0.1, mode=mode, nonlinearity="leaky_relu", generator=gen())  # type: ignore[arg-type]
    assert_same_draws(ours, expected)


def test_kaiming_rejects_fan_avg() -> None:
    with pytest.raises(ConfigValueError, match="mode must be 'fan_in' or 'fan_out', got 'fan_avg'"):
        F.kaiming_(weight(), mode="fan_avg")  # type: ignore[arg-type]


def test_kaiming_rejects_an_unknown_nonlinearity_with_a_close_match() -> None:
    with pytest.raises(ConfigValueError, match="Did you mean 'leaky_relu'"):
        F.kaiming_(weight(), nonlinearity="leaky_rel")


# --------------------------------------------------------------------------- caffe2_xavier_
def test_caffe2_xavier_is_uniform_within_sqrt_3_over_fan_in() -> None:
    bound = math.sqrt(3.0 / FAN_IN)
    assert_uniform(F.caffe2_xavier_(weight(), generator=gen()), -bound, bound)


def test_caffe2_xavier_draws_what_torch_kaiming_uniform_with_a_1_draws() -> None:
    # mmcv: "corresponds to kaiming_uniform_ in PyTorch" with a=1, fan_in, leaky_relu.
    expected = nn.init.kaiming_uniform_(weight(), a=1, mode="fan_in", nonlinearity="leaky_relu", generator=gen())
    assert_same_draws(F.caffe2_xavier_(weight(), generator=gen()), expected)


# --------------------------------------------------------------------------- fan-based fills need 2 dims
@pytest.mark.parametrize(
    "fill", [F.xavier_, F.kaiming_, F.caffe2_xavier_, F.variance_scaling_], ids=lambda f: f.__name__
)
def test_fan_based_fills_reject_a_tensor_with_fewer_than_2_dimensions(fill: Callable[..., Tensor]) -> None:
    t = torch.zeros(8)
    with pytest.raises(ConfigValueError, match="fewer than 2 dimensions"):
        fill(t)
    assert torch.equal(t, torch.zeros(8))


# --------------------------------------------------------------------------- calculate_gain
@pytest.mark.parametrize(
    ("nonlinearity", "param", "gain"),
    [
        ("linear", None, 1.0),
        ("conv1d", None, 1.0),
        ("conv2d", None, 1.0),
        ("conv3d", None, 1.0),
        ("conv_transpose1d", None, 1.0),
        ("conv_transpose2d", None, 1.0),
        ("conv_transpose3d", None, 1.0),
        ("sigmoid", None, 1.0),
        ("tanh", None, 5.0 / 3),
        ("relu", None, math.sqrt(2.0)),
        ("selu", None, 3.0 / 4),
        ("leaky_relu", None, math.sqrt(2.0 / (1 + 0.01**2))),
        ("leaky_relu", 0.2, math.sqrt(2.0 / (1 + 0.2**2))),
        ("leaky_relu", 0, math.sqrt(2.0)),
        ("leaky_relu", 1, 1.0),
    ],
)
def test_calculate_gain_follows_the_torch_table(nonlinearity: str, param: float | None, gain: float) -> None:
    assert F.calculate_gain(nonlinearity, param) == pytest.approx(gain, rel=1e-12)
    assert F.calculate_gain(nonlinearity, param) == pytest.approx(
        nn.init.calculate_gain(nonlinearity, param), rel=1e-12  # type: ignore[arg-type]
    )


def test_calculate_gain_rejects_an_unknown_nonlinearity_with_a_close_match() -> None:
    with pytest.raises(ConfigValueError, match="unsupported nonlinearity 'rleu'. Did you mean 'relu'") as info:
        F.calculate_gain("rleu")
    assert isinstance(info.value, ValueError)
    assert "Choose one of:" in str(info.value)


@pytest.mark.parametrize("param", [True, "0.2", [0.2]])
def test_calculate_gain_rejects_a_leaky_relu_slope_that_is_not_a_number(param: Any) -> None:
    with pytest.raises(ConfigTypeError, match="negative slope of leaky_relu must be a number"):
        F.calculate_gain("leaky_relu", param)


def test_calculate_gain_rejects_a_nonlinearity_that_is_not_a_string() -> None:
    with pytest.raises(ConfigTypeError, match="nonlinearity must be a str"):
        F.calculate_gain(nn.ReLU)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- compute_fans
@pytest.mark.parametrize(
    ("shape", "fans"),
    [
        pytest.param((10, 20), (20, 10), id="linear-out-in"),
        pytest.param((64, 256, 3, 3), (2304, 576), id="conv2d"),
        pytest.param((8, 4, 5), (20, 40), id="conv1d"),
        pytest.param((8, 4, 2, 3, 5), (120, 240), id="conv3d"),
    ],
)
def test_compute_fans_multiplies_channels_by_the_receptive_field(shape: tuple[int, ...], fans: tuple[int, int]) -> None:
    assert F.compute_fans(shape) == fans
    assert F.compute_fans(torch.Size(shape)) == fans
    assert F.compute_fans(shape) == nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


@pytest.mark.parametrize("shape", [(), (7,)])
def test_compute_fans_rejects_fewer_than_2_dimensions(shape: tuple[int, ...]) -> None:
    with pytest.raises(ConfigValueError, match=r"fewer than 2 dimensions") as info:
        F.compute_fans(shape)
    assert isinstance(info.value, ValueError)
    assert str(tuple(shape)) in str(info.value)


# --------------------------------------------------------------------------- functions on modules
def defaults(fn: Callable[..., Any]) -> dict[str, Any]:
    """Every parameter with a default, and that default."""
    return {
        name: p.default
        for name, p in inspect.signature(fn).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


# The signatures SPEC.md "Functions on modules" pins: (parameter, default) after the module.
MODULE_SIGNATURES = [
    (F.constant_init, [("val", inspect.Parameter.empty), ("bias", 0)]),
    (F.xavier_init, [("gain", 1), ("bias", 0), ("distribution", "normal")]),
    (F.normal_init, [("mean", 0), ("std", 1), ("bias", 0)]),
    (F.trunc_normal_init, [("mean", 0), ("std", 1), ("a", -2), ("b", 2), ("bias", 0)]),
    (F.uniform_init, [("a", 0), ("b", 1), ("bias", 0)]),
    (F.kaiming_init, [("a", 0), ("mode", "fan_out"), ("nonlinearity", "relu"), ("bias", 0), ("distribution", "normal")]),
    (F.caffe2_xavier_init, [("bias", 0)]),
]


@pytest.mark.parametrize(("fn", "expected"), MODULE_SIGNATURES, ids=lambda x: getattr(x, "__name__", ""))
def test_module_functions_have_mmcv_signatures_and_defaults(fn: Callable[..., Any], expected: list[tuple[str, Any]]) -> None:
    params = list(inspect.signature(fn).parameters.values())
    positional = [p for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert positional[0].name == "module"
    assert [(p.name, p.default) for p in positional[1:]] == expected
    # Ours alone: the random generator, keyword-only, defaulting to torch's global one.
    extra = [p for p in params if p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert [(p.name, p.kind, p.default) for p in extra] in (
        [],
        [("generator", inspect.Parameter.KEYWORD_ONLY, None)],
    )


# (function, arguments, the weight's distribution on conv(): its CDF and std)
MODULE_FILLS = [
    pytest.param(F.normal_init, dict(mean=0.5, std=0.25, bias=3), normal_cdf(0.5, 0.25), 0.25, id="normal_init"),
    pytest.param(F.uniform_init, dict(a=-1, b=3, bias=3), uniform_cdf(-1, 3), 4 / math.sqrt(12), id="uniform_init"),
    pytest.param(
        F.trunc_normal_init,
        dict(mean=0.0, std=1.0, a=-1.0, b=1.0, bias=3),
        trunc_normal_cdf(0.0, 1.0, -1.0, 1.0),
        trunc_normal_moments(0.0, 1.0, -1.0, 1.0)[1],
        id="trunc_normal_init",
    ),
    pytest.param(
        F.xavier_init,
        dict(gain=2, bias=3, distribution="uniform"),
        uniform_cdf(-2 * math.sqrt(6 / (FAN_IN + FAN_OUT)), 2 * math.sqrt(6 / (FAN_IN + FAN_OUT))),
        2 * math.sqrt(2 / (FAN_IN + FAN_OUT)),
        id="xavier_init-uniform",
    ),
    pytest.param(
        F.xavier_init,
        dict(bias=3),
        normal_cdf(0, math.sqrt(2 / (FAN_IN + FAN_OUT))),
        math.sqrt(2 / (FAN_IN + FAN_OUT)),
        id="xavier_init-defaults",
    ),
    pytest.param(
        F.kaiming_init,
        dict(bias=3),
        normal_cdf(0, math.sqrt(2 / FAN_OUT)),
        math.sqrt(2 / FAN_OUT),
        id="kaiming_init-defaults",
    ),
    pytest.param(
        F.kaiming_init,
        dict(a=0.2, mode="fan_in", nonlinearity="leaky_relu", bias=3, distribution="uniform"),
        uniform_cdf(-math.sqrt(6 / 1.04 / FAN_IN), math.sqrt(6 / 1.04 / FAN_IN)),
        math.sqrt(2 / 1.04 / FAN_IN),
        id="kaiming_init-leaky-uniform-fan_in",
    ),
    pytest.param(
        F.caffe2_xavier_init,
        dict(bias=3),
        uniform_cdf(-math.sqrt(3 / FAN_IN), math.sqrt(3 / FAN_IN)),
        math.sqrt(1 / FAN_IN),
        id="caffe2_xavier_init",
    ),
]


@pytest.mark.parametrize(("fn", "kwargs", "cdf", "std"), MODULE_FILLS)
def test_module_function_fills_the_weight_from_its_distribution_and_the_bias_with_the_constant(
    fn: Callable[..., None], kwargs: dict[str, Any], cdf: Cdf, std: float
) -> None:
    m = conv()
    assert fn(m, **kwargs, generator=gen()) is None
    assert_fits(m.weight, cdf)
    assert_std(m.weight, std)
    assert torch.equal(m.bias, torch.full((64,), 3.0))


def test_constant_init_sets_the_weight_to_val_and_the_bias_to_bias() -> None:
    m = conv()
    F.constant_init(m, 0.5, bias=2)
    assert torch.equal(m.weight, torch.full(SHAPE, 0.5))
    assert torch.equal(m.bias, torch.full((64,), 2.0))


ALL_MODULE_FUNCTIONS = [
    pytest.param(F.constant_init, dict(val=1), id="constant_init"),
    pytest.param(F.xavier_init, {}, id="xavier_init"),
    pytest.param(F.normal_init, {}, id="normal_init"),
    pytest.param(F.trunc_normal_init, {}, id="trunc_normal_init"),
    pytest.param(F.uniform_init, {}, id="uniform_init"),
    pytest.param(F.kaiming_init, {}, id="kaiming_init"),
    pytest.param(F.caffe2_xavier_init, {}, id="caffe2_xavier_init"),
]


@pytest.mark.parametrize(("fn", "kwargs"), ALL_MODULE_FUNCTIONS)
def test_module_function_does_not_recurse_into_children(fn: Callable[..., None], kwargs: dict[str, Any]) -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(4, 2))
    before = state_of(model)
    fn(model, **kwargs)
    assert_unchanged(model, before)


@pytest.mark.parametrize(("fn", "kwargs"), ALL_MODULE_FUNCTIONS)
@pytest.mark.parametrize(
    "make",
    [nn.ReLU, lambda: nn.LayerNorm(4, elementwise_affine=False), lambda: nn.BatchNorm2d(4, affine=False)],
    ids=["no-weight-attribute", "weight-none", "buffers-only"],
)
def test_module_function_leaves_a_module_without_weight_and_bias_alone(
    fn: Callable[..., None], kwargs: dict[str, Any], make: Callable[[], nn.Module]
) -> None:
    m = make()
    before = state_of(m)
    fn(m, **kwargs, bias=5)
    assert_unchanged(m, before)


@pytest.mark.parametrize(("fn", "kwargs"), ALL_MODULE_FUNCTIONS)
def test_module_function_fills_the_weight_of_a_module_whose_bias_is_none(
    fn: Callable[..., None], kwargs: dict[str, Any]
) -> None:
    m = nn.Conv2d(3, 4, 3, bias=False)
    m.weight.data.fill_(123.0)
    fn(m, **kwargs, bias=5)
    assert m.bias is None
    assert not torch.equal(m.weight, torch.full_like(m.weight, 123.0))


def test_module_function_fills_only_the_bias_of_a_module_without_weight() -> None:
    m = nn.Module()
    m.bias = nn.Parameter(torch.zeros(3))
    F.kaiming_init(m, bias=0.5)
    assert torch.equal(m.bias, torch.full((3,), 0.5))


@pytest.mark.parametrize(("fn", "kwargs"), ALL_MODULE_FUNCTIONS)
def test_module_function_keeps_the_parameters_and_their_requires_grad(
    fn: Callable[..., None], kwargs: dict[str, Any]
) -> None:
    m = nn.Linear(8, 4)
    weight, bias = m.weight, m.bias
    fn(m, **kwargs)
    assert m.weight is weight and m.bias is bias
    assert m.weight.requires_grad and m.bias.requires_grad


# --------------------------------------------------------------------------- mmcv-cnn.md examples
def test_doc_constant_init_conv1_1_0_makes_weight_ones_and_bias_zeros() -> None:
    conv1 = nn.Conv2d(3, 3, 1)
    F.constant_init(conv1, 1, 0)
    assert torch.equal(conv1.weight, torch.ones(3, 3, 1, 1))
    assert torch.equal(conv1.bias, torch.zeros(3))


def test_doc_xavier_init_normal_is_torch_xavier_normal_with_zero_bias() -> None:
    conv1 = nn.Conv2d(3, 3, 1)
    F.xavier_init(conv1, distribution="normal", generator=gen())
    assert_same_draws(conv1.weight, nn.init.xavier_normal_(torch.empty(3, 3, 1, 1), generator=gen()))
    assert torch.equal(conv1.bias, torch.zeros(3))


def test_doc_normal_init_std_001_is_torch_normal_with_zero_bias() -> None:
    conv1 = nn.Conv2d(3, 3, 1)
    F.normal_init(conv1, std=0.01, bias=0, generator=gen())
    assert_same_draws(conv1.weight, nn.init.normal_(torch.empty(3, 3, 1, 1), 0, 0.01, generator=gen()))
    assert torch.equal(conv1.bias, torch.zeros(3))


def test_doc_uniform_init_0_1_is_torch_uniform_with_zero_bias() -> None:
    conv1 = nn.Conv2d(3, 3, 1)
    F.uniform_init(conv1, a=0, b=1, generator=gen())
    assert_same_draws(conv1.weight, nn.init.uniform_(torch.empty(3, 3, 1, 1), 0, 1, generator=gen()))
    assert torch.equal(conv1.bias, torch.zeros(3))


def test_doc_kaiming_init_is_torch_kaiming_normal_fan_out_relu_with_zero_bias() -> None:
    conv1 = nn.Conv2d(3, 3, 1)
    F.kaiming_init(conv1, generator=gen())
    expected = nn.init.kaiming_normal_(torch.empty(3, 3, 1, 1), a=0, mode="fan_out", nonlinearity="relu", generator=gen())
    assert_same_draws(conv1.weight, expected)
    assert torch.equal(conv1.bias, torch.zeros(3))


def test_doc_caffe2_xavier_init_is_torch_kaiming_uniform_a_1_with_zero_bias() -> None:
    conv1 = nn.Conv2d(3, 3, 1)
    F.caffe2_xavier_init(conv1, generator=gen())
    expected = nn.init.kaiming_uniform_(torch.empty(3, 3, 1, 1), a=1, mode="fan_in", nonlinearity="leaky_relu", generator=gen())
    assert_same_draws(conv1.weight, expected)
    assert torch.equal(conv1.bias, torch.zeros(3))


def test_doc_bias_init_with_prob_001_is_minus_4_59511985013459() -> None:
    assert F.bias_init_with_prob(0.01) == -4.59511985013459


# --------------------------------------------------------------------------- bias_init_with_prob
@pytest.mark.parametrize("p", [0.01, 0.1, 0.5, 0.9, 1e-6])
def test_bias_init_with_prob_makes_the_sigmoid_output_p(p: float) -> None:
    assert 1 / (1 + math.exp(-F.bias_init_with_prob(p))) == pytest.approx(p, rel=1e-12)


def test_bias_init_with_prob_returns_a_python_float() -> None:
    assert type(F.bias_init_with_prob(0.5)) is float
    assert F.bias_init_with_prob(0.5) == 0.0


@pytest.mark.parametrize("p", [0, 1, -0.5, 1.5, math.nan])
def test_bias_init_with_prob_rejects_a_probability_outside_the_open_unit_interval(p: float) -> None:
    with pytest.raises(ConfigValueError, match="strictly between 0 and 1") as info:
        F.bias_init_with_prob(p)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("p", ["x", "0.01", None, True, torch.tensor(0.01)])
def test_bias_init_with_prob_rejects_a_value_that_is_not_a_number(p: Any) -> None:
    with pytest.raises(ConfigTypeError, match="prior_prob must be a number") as info:
        F.bias_init_with_prob(p)
    assert isinstance(info.value, TypeError)


# --------------------------------------------------------------------------- generators
RANDOM_FILLS = [
    pytest.param(lambda t, g: F.normal_(t, generator=g), id="normal_"),
    pytest.param(lambda t, g: F.uniform_(t, generator=g), id="uniform_"),
    pytest.param(lambda t, g: F.trunc_normal_(t, generator=g), id="trunc_normal_"),
    pytest.param(lambda t, g: F.variance_scaling_(t, generator=g), id="variance_scaling_"),
    pytest.param(lambda t, g: F.xavier_(t, generator=g), id="xavier_"),
    pytest.param(lambda t, g: F.kaiming_(t, generator=g), id="kaiming_"),
    pytest.param(lambda t, g: F.caffe2_xavier_(t, generator=g), id="caffe2_xavier_"),
]


def _draw(fill: Callable[..., Tensor], g: torch.Generator | None) -> Tensor:
    return fill(torch.empty(32, 16), g).clone()


@pytest.mark.parametrize("fill", RANDOM_FILLS)
def test_the_same_seed_gives_identical_draws(fill: Callable[..., Any]) -> None:
    assert torch.equal(_draw(fill, gen(7)), _draw(fill, gen(7)))


@pytest.mark.parametrize("fill", RANDOM_FILLS)
def test_different_seeds_give_different_draws(fill: Callable[..., Any]) -> None:
    assert not torch.equal(_draw(fill, gen(7)), _draw(fill, gen(8)))


@pytest.mark.parametrize("fill", RANDOM_FILLS)
def test_a_given_generator_leaves_the_global_rng_untouched(fill: Callable[..., Any]) -> None:
    state = torch.get_rng_state()
    _draw(fill, gen(7))
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("fill", RANDOM_FILLS)
def test_without_a_generator_fills_draw_from_the_global_rng(fill: Callable[..., Any]) -> None:
    torch.manual_seed(3)
    first = _draw(fill, None)
    torch.manual_seed(3)
    assert torch.equal(_draw(fill, None), first)


@pytest.mark.parametrize(
    "fn",
    [F.xavier_init, F.normal_init, F.trunc_normal_init, F.uniform_init, F.kaiming_init, F.caffe2_xavier_init],
    ids=lambda f: f.__name__,
)
def test_module_function_draws_reproducibly_from_a_given_generator(fn: Callable[..., None]) -> None:
    first, second, other = nn.Linear(16, 32), nn.Linear(16, 32), nn.Linear(16, 32)
    state = torch.get_rng_state()
    fn(first, generator=gen(5))
    fn(second, generator=gen(5))
    fn(other, generator=gen(6))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first.weight, second.weight)
    assert not torch.equal(first.weight, other.weight)


# --------------------------------------------------------------------------- in place, on parameters
FILLS_ON_WEIGHT = [
    pytest.param(lambda t: F.constant_(t, 0.5), id="constant_"),
    pytest.param(lambda t: F.normal_(t), id="normal_"),
    pytest.param(lambda t: F.uniform_(t), id="uniform_"),
    pytest.param(lambda t: F.trunc_normal_(t), id="trunc_normal_"),
    pytest.param(lambda t: F.variance_scaling_(t), id="variance_scaling_"),
    pytest.param(lambda t: F.xavier_(t), id="xavier_"),
    pytest.param(lambda t: F.kaiming_(t), id="kaiming_"),
    pytest.param(lambda t: F.caffe2_xavier_(t), id="caffe2_xavier_"),
]


@pytest.mark.parametrize("fill", FILLS_ON_WEIGHT)
def test_fill_works_in_place_on_a_parameter_that_requires_grad(fill: Callable[[Tensor], Tensor]) -> None:
    p = nn.Parameter(torch.zeros(32, 16))
    out = fill(p)
    assert out is p
    assert p.requires_grad and p.grad_fn is None
    assert not torch.equal(p, torch.zeros(32, 16))


# --------------------------------------------------------------------------- bad distribution, bad nonlinearity
BAD_DISTRIBUTION = [
    pytest.param(lambda: F.xavier_(torch.zeros(4, 4), distribution="foo"), id="xavier_"),  # type: ignore[arg-type]
    pytest.param(lambda: F.kaiming_(torch.zeros(4, 4), distribution="foo"), id="kaiming_"),  # type: ignore[arg-type]
    pytest.param(lambda: F.variance_scaling_(torch.zeros(4, 4), distribution="foo"), id="variance_scaling_"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize("call", BAD_DISTRIBUTION)
def test_a_distribution_other_than_normal_or_uniform_raises_config_value_error(call: Callable[[], Any]) -> None:
    with pytest.raises(ConfigValueError, match="distribution must be 'normal' or 'uniform', got 'foo'") as info:
        call()
    assert isinstance(info.value, ValueError) and isinstance(info.value, ConfigError)


@pytest.mark.parametrize("fn", [F.xavier_init, F.kaiming_init], ids=lambda f: f.__name__)
def test_module_function_with_a_bad_distribution_raises_and_changes_nothing(fn: Callable[..., None]) -> None:
    m = conv()
    before = state_of(m)
    with pytest.raises(ConfigValueError, match="distribution must be 'normal' or 'uniform'"):
        fn(m, distribution="foo")
    assert_unchanged(m, before)


def test_kaiming_init_with_an_unknown_nonlinearity_raises_with_a_hint_and_changes_nothing() -> None:
    m = conv()
    before = state_of(m)
    with pytest.raises(ConfigValueError, match="unsupported nonlinearity 'Relu'. Did you mean 'relu'"):
        F.kaiming_init(m, nonlinearity="Relu")
    assert_unchanged(m, before)


def test_kaiming_init_with_a_bad_mode_raises_and_changes_nothing() -> None:
    m = conv()
    before = state_of(m)
    with pytest.raises(ConfigValueError, match="mode must be 'fan_in' or 'fan_out'"):
        F.kaiming_init(m, mode="fan_avg")  # type: ignore[arg-type]
    assert_unchanged(m, before)


def test_fan_based_module_function_on_a_norm_layer_raises_config_value_error() -> None:
    with pytest.raises(ConfigValueError, match="fewer than 2 dimensions"):
        F.kaiming_init(nn.BatchNorm2d(4))


# --------------------------------------------------------------------------- checked before writing
@pytest.mark.parametrize(
    ("fill", "dtype", "match"),
    [
        pytest.param(lambda t: F.constant_(t, 1e39), torch.float32, "val=1e+39: more than float32's", id="constant"),
        pytest.param(lambda t: F.normal_(t, 0.0, 1e4), torch.float16, "more than float16's", id="normal"),
        pytest.param(lambda t: F.uniform_(t, -40000.0, 40000.0), torch.float16, "spans b - a = 80000", id="uniform-width"),
        pytest.param(lambda t: F.trunc_normal_(t, 0.0, 1e38, -3e38, 3e38), torch.float32, "more than float32's", id="trunc"),
        pytest.param(lambda t: F.trunc_normal_tf_(t, std=2e38), torch.float32, "std·z reaches 4e+38", id="trunc-tf"),
        pytest.param(lambda t: F.xavier_(t, 1e308), torch.float32, "more than float32's", id="xavier"),
        pytest.param(lambda t: F.variance_scaling_(t, 1e300), torch.float32, "more than float32's", id="scaling"),
        pytest.param(lambda t: F.orthogonal_(t, 1e39), torch.float32, "more than float32's", id="orthogonal"),
        pytest.param(lambda t: F.sparse_(t, 0.5, 1e38), torch.float32, "more than float32's", id="sparse"),
        pytest.param(lambda t: F.normal_(t, 0.0, 10**400), torch.float32, "std must be finite, got ~1e+400", id="huge-int"),
        pytest.param(lambda t: F.normal_(t), torch.int64, "need a floating-point tensor", id="int-tensor"),
    ],
)
def test_a_fill_refuses_a_value_its_dtype_cannot_hold_before_writing(fill: Callable[[Tensor], Any], dtype: torch.dtype,
                                                                      match: str) -> None:
    t = torch.zeros(16, 8, dtype=dtype)
    with pytest.raises(ConfigValueError, match=re.escape(match)):
        fill(t)
    assert bool((t == 0).all())


def test_module_functions_check_the_bias_before_writing_the_weight() -> None:
    conv = nn.Conv2d(2, 4, 3)
    before = state_of(conv)
    with pytest.raises(ConfigValueError, match="val=-1e\\+39: more than float32's"):
        F.normal_init(conv, std=0.01, bias=-1e39)
    assert_unchanged(conv, before)


def test_gain_past_int64_and_slopes_past_1e154_are_numbers_like_any_other() -> None:
    assert F.calculate_gain("leaky_relu", 1e200) == pytest.approx(math.sqrt(2.0) / 1e200)
    assert F.calculate_gain("leaky_relu", 0.01) == math.sqrt(2.0 / (1 + 0.01**2))  # torch's formula, unchanged
    t = F.orthogonal_(torch.empty(4, 4), -(2**64), generator=gen())
    assert bool(torch.isfinite(t).all()) and float(t.abs().max()) > 1e18


def test_bias_init_with_prob_refuses_a_probability_whose_bias_is_not_finite() -> None:
    with pytest.raises(ConfigValueError, match=r"prior_prob=1e-320 is too close to 0"):
        F.bias_init_with_prob(1e-320)
    assert math.isfinite(F.bias_init_with_prob(1e-300))


def test_truncated_normal_std_refuses_a_range_float64_cannot_resolve_instead_of_dividing_by_0() -> None:
    with pytest.raises(ConfigValueError, match=r"cut to \[-50, -40\] is 0 in float64"):
        F.truncated_normal_std(40.0, 50.0)


def test_trunc_normal_falls_back_to_the_inverse_cdf_when_redrawing_does_not_end(monkeypatch: pytest.MonkeyPatch) -> None:
    # The rejection loop stops after _MAX_REDRAWS rounds (a range narrower than the dtype's
    # spacing at the mean could loop forever); what is left is drawn by the inverse CDF.
    from torchinit import _trunc_normal

    monkeypatch.setattr(_trunc_normal, "_MAX_REDRAWS", 0)
    t = F.trunc_normal_(weight(), 0.0, 1.0, -1.0, 1.0, generator=gen())
    assert float(t.abs().max()) <= 1.0
    assert_fits(t, trunc_normal_cdf(0.0, 1.0, -1.0, 1.0))

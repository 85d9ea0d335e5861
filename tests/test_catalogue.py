"""The initializer catalogue beyond mmengine's set: each fill draws what its docstring states,
each registered class fills exactly what its functional fill does, and refuses, before any
weight changes, a tensor it cannot fill.

Random fills are checked on a fixed seed with a Kolmogorov-Smirnov statistic against the
exact CDF and a standard deviation tolerance that a wrong fan, a missing truncation
correction or a wrong gain fails.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
import pytest
import torch
from _helpers import gen, one_thread  # noqa: F401  (one_thread: autouse fixture)
from conftest import assert_unchanged, state_of
from torch import Tensor, nn

import torchinit
from torchinit import (
    WEIGHT_INITIALIZERS,
    ConfigTypeError,
    ConfigValueError,
    Constant,
    DeltaOrthogonal,
    DepthScaledNormal,
    Dirac,
    EmbeddingNormal,
    Eye,
    FillInit,
    InitWarning,
    LeCunNormal,
    LeCunUniform,
    Ones,
    Orthogonal,
    Sparse,
    TruncNormal,
    TruncNormalTF,
    VarianceScaling,
    Zeros,
    initialize,
)
from torchinit import functional as F
from torchinit.initializers import block_position

# A conv weight (out=64, in=256, 3x3): fan_in != fan_out, and 147,456 draws.
SHAPE = (64, 256, 3, 3)
FAN_IN, FAN_OUT = 256 * 9, 64 * 9
STD_RTOL = 0.01  # a sample std's standard error here is ~0.2 %
JAX_TRUNCATED_STD = 0.87962566103423978  # jax/_src/nn/initializers.py, variance_scaling

Cdf = Callable[[Tensor], Tensor]


def phi(z: Tensor) -> Tensor:
    return 0.5 * torch.special.erfc(-z / math.sqrt(2.0))


def normal_cdf(std: float) -> Cdf:
    return lambda x: phi(x / std)


def uniform_cdf(bound: float) -> Cdf:
    return lambda x: ((x + bound) / (2 * bound)).clamp(0.0, 1.0)


def trunc_cdf(mean: float, std: float, alpha: float, beta: float) -> Cdf:
    """N(mean, std²) conditioned on [mean + alpha·std, mean + beta·std]."""
    lo, hi = (0.5 * math.erfc(-v / math.sqrt(2.0)) for v in (alpha, beta))
    return lambda x: (phi(((x - mean) / std).clamp(alpha, beta)) - lo) / (hi - lo)


def assert_fits(samples: Tensor, cdf: Cdf) -> None:
    x = np.sort(samples.detach().double().numpy().ravel())
    f = cdf(torch.from_numpy(x)).numpy()
    n = x.size
    d = max((np.arange(1, n + 1) / n - f).max(), (f - np.arange(0, n) / n).max())
    crit = math.sqrt(-0.5 * math.log(1e-3 / 2)) / math.sqrt(n)
    assert d < crit, f"KS statistic {d:.5f} >= {crit:.5f}: not this distribution"


def assert_std(samples: Tensor, expected: float) -> None:
    assert float(samples.detach().double().std()) == pytest.approx(expected, rel=STD_RTOL)


# --------------------------------------------------------------------------- variance scaling
def test_the_truncation_factor_is_jax_constant_and_agrees_with_quadrature() -> None:
    assert F.truncated_normal_std(-2.0, 2.0) == pytest.approx(JAX_TRUNCATED_STD, rel=1e-15)
    mpmath.mp.dps = 30
    pdf = lambda z: mpmath.exp(-z * z / 2) / mpmath.sqrt(2 * mpmath.pi)  # noqa: E731
    a, b = -1, 3
    mass = mpmath.quad(pdf, [a, b])
    mean = mpmath.quad(lambda z: z * pdf(z), [a, b]) / mass
    var = mpmath.quad(lambda z: (z - mean) ** 2 * pdf(z), [a, b]) / mass
    assert F.truncated_normal_std(-1.0, 3.0) == pytest.approx(float(mpmath.sqrt(var)), rel=1e-12)


def test_variance_scaling_fan_geo_avg_divides_by_the_geometric_mean_of_the_fans() -> None:
    t = F.variance_scaling_(torch.empty(SHAPE), 2.0, "fan_geo_avg", "normal", generator=gen())
    std = math.sqrt(2.0 / math.sqrt(FAN_IN * FAN_OUT))
    assert_fits(t, normal_cdf(std))
    assert_std(t, std)


def test_variance_scaling_truncated_normal_has_the_requested_std_and_cuts_at_2_of_its_own() -> None:
    t = F.variance_scaling_(torch.empty(SHAPE), 2.0, "fan_in", "truncated_normal", generator=gen())
    std = math.sqrt(2.0 / FAN_IN)
    assert_std(t, std)  # corrected: without the 0.8796 division it is 12 % short
    parent = std / JAX_TRUNCATED_STD
    assert float(t.abs().max()) <= 2 * parent
    assert float(t.abs().max()) > 1.99 * parent
    assert_fits(t, trunc_cdf(0.0, parent, -2.0, 2.0))


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg", "fan_geo_avg"])
@pytest.mark.parametrize("distribution", ["normal", "truncated_normal", "uniform"])
def test_variance_scaling_has_variance_scale_over_fan_for_every_mode_and_distribution(mode: str, distribution: str) -> None:
    fan = {"fan_in": FAN_IN, "fan_out": FAN_OUT, "fan_avg": (FAN_IN + FAN_OUT) / 2,
           "fan_geo_avg": math.sqrt(FAN_IN * FAN_OUT)}[mode]
    t = F.variance_scaling_(torch.empty(SHAPE), 3.0, mode, distribution, generator=gen())  # type: ignore[arg-type]
    assert_std(t, math.sqrt(3.0 / fan))


def test_variance_scaling_names_truncated_normal_among_the_choices() -> None:
    with pytest.raises(ConfigValueError, match="truncated_normal"):
        F.variance_scaling_(torch.empty(4, 4), distribution="gaussian")  # type: ignore[arg-type]


@pytest.mark.parametrize("fill", [F.xavier_, F.kaiming_], ids=lambda f: f.__name__)
def test_xavier_and_kaiming_keep_mmengines_two_distributions(fill: Callable[..., Tensor]) -> None:
    with pytest.raises(ConfigValueError, match="'normal' or 'uniform'"):
        fill(torch.empty(4, 4), distribution="truncated_normal")


def test_lecun_normal_is_a_corrected_truncated_normal_of_variance_1_over_fan_in() -> None:
    t = F.lecun_normal_(torch.empty(SHAPE), generator=gen())
    assert_std(t, 1 / math.sqrt(FAN_IN))
    assert_fits(t, trunc_cdf(0.0, 1 / math.sqrt(FAN_IN) / JAX_TRUNCATED_STD, -2.0, 2.0))


def test_lecun_uniform_is_bounded_by_sqrt_3_over_fan_in() -> None:
    t = F.lecun_uniform_(torch.empty(SHAPE), generator=gen())
    bound = math.sqrt(3 / FAN_IN)
    assert_fits(t, uniform_cdf(bound))
    assert float(t.abs().max()) <= bound


# --------------------------------------------------------------------------- trunc_normal_tf_
def test_trunc_normal_tf_bounds_are_in_standard_deviations_around_the_mean() -> None:
    t = F.trunc_normal_tf_(torch.empty(SHAPE), mean=0.5, std=0.02, a=-1.0, b=3.0, generator=gen())
    assert 0.5 - 0.02 <= float(t.min()) and float(t.max()) <= 0.5 + 0.06
    assert_fits(t, trunc_cdf(0.5, 0.02, -1.0, 3.0))


def test_trunc_normal_tf_std_is_the_std_before_the_cut_unless_corrected() -> None:
    plain = F.trunc_normal_tf_(torch.empty(SHAPE), std=0.02, generator=gen())
    assert_std(plain, 0.02 * JAX_TRUNCATED_STD)
    corrected = F.trunc_normal_tf_(torch.empty(SHAPE), std=0.02, corrected=True, generator=gen())
    assert_std(corrected, 0.02)


@pytest.mark.parametrize(("kwargs", "match"), [(dict(a=1.0, b=1.0), "a < b"), (dict(std=-1.0), "std must be >= 0")])
def test_trunc_normal_tf_rejects_bad_arguments_and_leaves_the_tensor(kwargs: dict[str, float], match: str) -> None:
    t = torch.zeros(4)
    with pytest.raises(ConfigValueError, match=match):
        F.trunc_normal_tf_(t, **kwargs)
    assert torch.equal(t, torch.zeros(4))


# --------------------------------------------------------------------------- orthogonal_, delta_orthogonal_
@pytest.mark.parametrize("shape", [(8, 32), (32, 8), (16, 16), (6, 4, 3, 3), (12, 2, 3)])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal_rows_or_columns_are_orthonormal_times_gain(shape: tuple[int, ...], gain: float) -> None:
    w = F.orthogonal_(torch.empty(shape, dtype=torch.float64), gain, generator=gen()).reshape(shape[0], -1)
    rows, cols = w.shape
    gram = w @ w.T if rows <= cols else w.T @ w
    assert torch.allclose(gram, gain**2 * torch.eye(min(rows, cols), dtype=torch.float64), atol=1e-12)


def test_orthogonal_draws_uniformly_over_orthogonal_matrices() -> None:
    # Haar: every entry of a random n x n orthogonal matrix is symmetric about 0 with
    # E[q²] = 1/n. QR without moving R's signs into Q gives a top-left entry of one sign.
    g = gen()
    corners = torch.stack([F.orthogonal_(torch.empty(4, 4), generator=g)[0, 0] for _ in range(2000)])
    assert abs(float((corners > 0).double().mean()) - 0.5) < 0.05
    assert float((corners**2).mean()) == pytest.approx(0.25, rel=0.08)


def test_orthogonal_entries_of_a_large_matrix_look_normal_with_variance_1_over_n() -> None:
    w = F.orthogonal_(torch.empty(512, 512), generator=gen())
    assert_fits(w * math.sqrt(512), normal_cdf(1.0))


def test_orthogonal_fills_half_precision_through_float64() -> None:
    w = F.orthogonal_(torch.empty(16, 16, dtype=torch.bfloat16), generator=gen())
    assert w.dtype == torch.bfloat16
    assert torch.allclose(w.double() @ w.double().T, torch.eye(16, dtype=torch.float64), atol=0.05)


def test_delta_orthogonal_puts_an_orthogonal_matrix_at_the_centre_and_zeros_elsewhere() -> None:
    w = F.delta_orthogonal_(torch.empty(16, 8, 3, 3, dtype=torch.float64), 2.0, generator=gen())
    centre = w[:, :, 1, 1]
    assert torch.allclose(centre.T @ centre, 4.0 * torch.eye(8, dtype=torch.float64), atol=1e-12)
    w[:, :, 1, 1] = 0
    assert not w.any()


@pytest.mark.parametrize("shape", [(8, 8, 5), (8, 4, 3, 3), (4, 4, 3, 3, 3)])
def test_a_delta_orthogonal_conv_with_same_padding_preserves_the_norm_of_every_input(shape: tuple[int, ...]) -> None:
    conv = {3: nn.Conv1d, 4: nn.Conv2d, 5: nn.Conv3d}[len(shape)](shape[1], shape[0], shape[2], padding="same", bias=False)
    conv.double()
    F.delta_orthogonal_(conv.weight, generator=gen())
    x = torch.randn(2, shape[1], *([6] * (len(shape) - 2)), dtype=torch.float64, generator=gen(1))
    with torch.no_grad():
        assert float(conv(x).norm()) == pytest.approx(float(x.norm()), rel=1e-12)


@pytest.mark.parametrize(
    ("fill", "shape", "match"),
    [
        (F.orthogonal_, (8,), "at least 2 dimensions"),
        (F.delta_orthogonal_, (8, 8), "3-, 4- or 5-d"),
        (F.delta_orthogonal_, (4, 8, 3, 3), "out_channels >= in_channels"),
    ],
)
def test_orthogonal_fills_reject_shapes_they_cannot_fill(fill: Callable[..., Tensor], shape: tuple[int, ...], match: str) -> None:
    t = torch.zeros(shape)
    with pytest.raises(ConfigValueError, match=match):
        fill(t)
    assert not t.any()


# --------------------------------------------------------------------------- dirac_, eye_, zeros_, ones_
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_a_dirac_conv_with_same_padding_returns_its_input(dims: int) -> None:
    conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims](4, 4, 3, padding=1, bias=False)
    F.dirac_(conv.weight)
    x = torch.randn(2, 4, *([5] * dims), generator=gen())
    assert torch.equal(conv(x), x)


def test_dirac_with_groups_repeats_the_identity_per_group() -> None:
    conv = nn.Conv2d(4, 8, 3, padding=1, groups=2, bias=False)
    F.dirac_(conv.weight, groups=2)
    x = torch.randn(1, 4, 5, 5, generator=gen())
    y = conv(x)
    # Group g maps input channels 2g, 2g+1 to output channels 4g, 4g+1 (4g+2, 4g+3 stay 0).
    assert torch.equal(y[:, [0, 1, 4, 5]], x)
    assert not y[:, [2, 3, 6, 7]].any()


def test_dirac_on_more_outputs_than_inputs_passes_the_inputs_and_zeros_the_rest() -> None:
    w = F.dirac_(torch.empty(6, 4, 3))
    assert int(w.sum()) == 4 and all(float(w[i, i, 1]) == 1 for i in range(4))


@pytest.mark.parametrize(("shape", "groups", "match"), [((4, 4), 1, "3-, 4- or 5-d"), ((6, 4, 3), 4, "dividing")])
def test_dirac_rejects_a_weight_it_cannot_fill(shape: tuple[int, ...], groups: int, match: str) -> None:
    with pytest.raises(ConfigValueError, match=match):
        F.dirac_(torch.zeros(shape), groups)


@pytest.mark.parametrize("shape", [(3, 3), (2, 4), (4, 2)])
def test_eye_is_exactly_torch_eye(shape: tuple[int, int]) -> None:
    assert torch.equal(F.eye_(torch.full(shape, 7.0)), torch.eye(*shape))


def test_eye_rejects_a_tensor_that_is_not_2_d() -> None:
    with pytest.raises(ConfigValueError, match="2-d"):
        F.eye_(torch.zeros(2, 2, 2))


def test_zeros_and_ones_fill_any_dtype() -> None:
    assert torch.equal(F.zeros_(torch.full((3,), 5)), torch.zeros(3, dtype=torch.int64))
    assert torch.equal(F.ones_(torch.zeros(2, 2, dtype=torch.bfloat16)), torch.ones(2, 2, dtype=torch.bfloat16))


# --------------------------------------------------------------------------- sparse_
def test_sparse_zeros_exactly_the_ceiling_of_sparsity_times_rows_in_every_column() -> None:
    w = F.sparse_(torch.empty(100, 300), 0.25, generator=gen())
    assert (w == 0).sum(dim=0).tolist() == [25] * 300
    assert (F.sparse_(torch.empty(10, 50), 0.3, generator=gen()) == 0).sum(dim=0).tolist() == [3] * 50
    assert (F.sparse_(torch.empty(10, 50), 0.31, generator=gen()) == 0).sum(dim=0).tolist() == [4] * 50


def test_sparse_zeros_rows_uniformly_and_draws_the_rest_from_normal_std() -> None:
    w = F.sparse_(torch.empty(20, 20000), 0.5, std=0.1, generator=gen())
    per_row = (w == 0).double().mean(dim=1)  # each row is zeroed in half of the columns
    assert float((per_row - 0.5).abs().max()) < 0.02
    assert_fits(w[w != 0], normal_cdf(0.1))


@pytest.mark.parametrize(("shape", "sparsity", "match"), [((4, 4, 3), 0.1, "2-d"), ((4, 4), 1.5, r"\[0, 1\]")])
def test_sparse_rejects_bad_arguments(shape: tuple[int, ...], sparsity: float, match: str) -> None:
    with pytest.raises(ConfigValueError, match=match):
        F.sparse_(torch.zeros(shape), sparsity)


# --------------------------------------------------------------------------- generators
RANDOM_FILLS = [
    pytest.param(lambda t, g: F.orthogonal_(t, generator=g), id="orthogonal_"),
    pytest.param(lambda t, g: F.delta_orthogonal_(t, generator=g), id="delta_orthogonal_"),
    pytest.param(lambda t, g: F.sparse_(t.view(16, -1), 0.5, generator=g), id="sparse_"),
    pytest.param(lambda t, g: F.lecun_normal_(t, generator=g), id="lecun_normal_"),
    pytest.param(lambda t, g: F.lecun_uniform_(t, generator=g), id="lecun_uniform_"),
    pytest.param(lambda t, g: F.trunc_normal_tf_(t, std=0.02, generator=g), id="trunc_normal_tf_"),
    pytest.param(lambda t, g: F.variance_scaling_(t, 1, "fan_geo_avg", "truncated_normal", generator=g), id="vs"),
]


@pytest.mark.parametrize("fill", RANDOM_FILLS)
def test_random_fills_are_reproducible_from_the_generator_and_differ_across_seeds(fill: Callable[..., Tensor]) -> None:
    a, b, c = (fill(torch.empty(16, 8, 3, 3), gen(s)) for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("fill", RANDOM_FILLS)
def test_random_fills_work_in_place_on_a_parameter_that_requires_grad(fill: Callable[..., Tensor]) -> None:
    p = nn.Parameter(torch.zeros(16, 8, 3, 3))
    assert fill(p, gen()).data_ptr() == p.data_ptr()
    assert p.requires_grad and p.grad_fn is None and p.any()


# --------------------------------------------------------------------------- calculate_gain
def _second_moment(f: Callable[[Any], Any], kinks: list[float]) -> Any:
    pdf = lambda x: mpmath.exp(-x * x / 2) / mpmath.sqrt(2 * mpmath.pi)  # noqa: E731
    return mpmath.quad(lambda x: f(x) ** 2 * pdf(x), [-mpmath.inf, *kinks, mpmath.inf])


MODERN = {
    "gelu": (lambda x: x * mpmath.ncdf(x), [0.0], nn.GELU()),
    "silu": (lambda x: x / (1 + mpmath.exp(-x)), [0.0], nn.SiLU()),
    "mish": (lambda x: x * mpmath.tanh(mpmath.log(1 + mpmath.exp(x))), [0.0], nn.Mish()),
    "elu": (lambda x: x if x > 0 else mpmath.exp(x) - 1, [0.0], nn.ELU()),
    "softplus": (lambda x: mpmath.log(1 + mpmath.exp(x)), [0.0], nn.Softplus()),
    "hardswish": (lambda x: x * min(max(x + 3, 0), 6) / 6, [-3.0, 0.0, 3.0], nn.Hardswish()),
    "relu6": (lambda x: min(max(x, 0), 6), [0.0, 6.0], nn.ReLU6()),
}


@pytest.mark.parametrize("name", sorted(MODERN))
def test_modern_gains_are_1_over_the_root_second_moment_under_a_unit_normal(name: str) -> None:
    mpmath.mp.dps = 30
    f, kinks, _ = MODERN[name]
    assert F.calculate_gain(name) == pytest.approx(float(1 / mpmath.sqrt(_second_moment(f, kinks))), rel=1e-14)


@pytest.mark.parametrize("name", sorted(MODERN))
def test_a_modern_gain_keeps_the_second_moment_of_torchs_activation_at_1(name: str) -> None:
    x = torch.randn(1 << 20, generator=gen(), dtype=torch.float64)
    y = MODERN[name][2](x) * F.calculate_gain(name)
    assert float((y**2).mean()) == pytest.approx(1.0, abs=0.01)


def test_the_definition_gives_torchs_relu_and_leaky_relu_gains() -> None:
    mpmath.mp.dps = 30
    assert float(1 / mpmath.sqrt(_second_moment(lambda x: max(x, 0), [0.0]))) == pytest.approx(F.calculate_gain("relu"))
    leaky = lambda x: x if x > 0 else 0.2 * x  # noqa: E731
    assert float(1 / mpmath.sqrt(_second_moment(leaky, [0.0]))) == pytest.approx(F.calculate_gain("leaky_relu", 0.2))


def test_swish_is_silu() -> None:
    assert F.calculate_gain("swish") == F.calculate_gain("silu")


def test_kaiming_takes_a_modern_nonlinearity() -> None:
    t = F.kaiming_(torch.empty(SHAPE), mode="fan_in", nonlinearity="gelu", generator=gen())
    assert_std(t, F.calculate_gain("gelu") / math.sqrt(FAN_IN))


def test_an_unknown_nonlinearity_lists_the_modern_ones_too() -> None:
    with pytest.raises(ConfigValueError, match="Did you mean 'gelu'.*hardswish"):
        F.calculate_gain("gleu")


# --------------------------------------------------------------------------- the registered classes
CATALOGUE = [Zeros, Ones, Eye, Dirac, Orthogonal, Sparse, EmbeddingNormal, VarianceScaling, LeCunNormal,
             LeCunUniform, TruncNormalTF, DeltaOrthogonal, DepthScaledNormal]


def field_defaults(cls: type) -> dict[str, Any]:
    return {f.name: (f.default if f.default is not dataclasses.MISSING else ...)
            for f in dataclasses.fields(cls) if f.init}


@pytest.mark.parametrize(
    ("cls", "defaults"),
    [
        (Zeros, {}),
        (Ones, {}),
        (Eye, {}),
        (Dirac, dict(groups=1)),
        (Orthogonal, dict(gain=1)),
        (Sparse, dict(sparsity=..., std=0.01)),
        (EmbeddingNormal, dict(mean=0, std=1, padding_idx=None)),
        (VarianceScaling, dict(scale=1, mode="fan_in", distribution="truncated_normal")),
        (LeCunNormal, {}),
        (LeCunUniform, {}),
        (TruncNormalTF, dict(mean=0, std=1, a=-2, b=2, corrected=False)),
        (DeltaOrthogonal, dict(gain=1)),
        (DepthScaledNormal, dict(std=0.02, depth="blocks")),
    ],
    ids=lambda x: x.__name__ if isinstance(x, type) else "",
)
def test_fields_and_defaults(cls: type, defaults: dict[str, Any]) -> None:
    assert field_defaults(cls) == defaults


@pytest.mark.parametrize("cls", CATALOGUE, ids=lambda c: c.__name__)
def test_each_is_registered_under_its_class_name_exported_frozen_and_keyword_only(cls: type) -> None:
    assert WEIGHT_INITIALIZERS.get(cls.__name__) is cls
    assert getattr(torchinit, cls.__name__) is cls and cls.__name__ in torchinit.__all__
    assert dataclasses.is_dataclass(cls) and all(f.kw_only for f in dataclasses.fields(cls))
    init = cls(sparsity=0.5) if cls is Sparse else cls()
    with pytest.raises(dataclasses.FrozenInstanceError):
        init.extra = 1


def test_zeros_and_ones_are_constants_described_without_a_val() -> None:
    assert Zeros() == Zeros() and Zeros().val == 0 and Ones().val == 1
    assert isinstance(Zeros(), Constant)
    assert (Zeros().describe(), Ones().describe()) == ("Zeros()", "Ones()")
    with pytest.raises(TypeError):
        Zeros(val=1)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("init", "text"),
    [
        (Orthogonal(gain=2), "Orthogonal(gain=2)"),
        (Sparse(sparsity=0.1), "Sparse(sparsity=0.1, std=0.01)"),
        (VarianceScaling(), "VarianceScaling(scale=1, mode=fan_in, distribution=truncated_normal)"),
        (TruncNormalTF(std=0.02), "TruncNormalTF(mean=0, std=0.02, a=-2, b=2, corrected=False)"),
        (DepthScaledNormal(depth=12), "DepthScaledNormal(std=0.02, depth=12)"),
        (LeCunNormal(), "LeCunNormal()"),
    ],
)
def test_describe_names_the_class_and_every_argument(init: FillInit, text: str) -> None:
    assert init.describe() == text


FILL_PAIRS = [
    pytest.param(Zeros(), lambda t, g: F.zeros_(t), id="Zeros"),
    pytest.param(Ones(), lambda t, g: F.ones_(t), id="Ones"),
    pytest.param(Dirac(groups=2), lambda t, g: F.dirac_(t, 2), id="Dirac"),
    pytest.param(Orthogonal(gain=3), lambda t, g: F.orthogonal_(t, 3, generator=g), id="Orthogonal"),
    pytest.param(VarianceScaling(scale=2, mode="fan_geo_avg"),
                 lambda t, g: F.variance_scaling_(t, 2, "fan_geo_avg", "truncated_normal", generator=g), id="VarianceScaling"),
    pytest.param(LeCunNormal(), lambda t, g: F.lecun_normal_(t, generator=g), id="LeCunNormal"),
    pytest.param(LeCunUniform(), lambda t, g: F.lecun_uniform_(t, generator=g), id="LeCunUniform"),
    pytest.param(TruncNormalTF(mean=1, std=0.5, a=-1, b=3, corrected=True),
                 lambda t, g: F.trunc_normal_tf_(t, 1, 0.5, -1, 3, corrected=True, generator=g), id="TruncNormalTF"),
    pytest.param(DeltaOrthogonal(gain=2), lambda t, g: F.delta_orthogonal_(t, 2, generator=g), id="DeltaOrthogonal"),
    pytest.param(DepthScaledNormal(std=0.5, depth=8), lambda t, g: F.normal_(t, 0, 0.125, generator=g), id="DepthScaledNormal"),
]


@pytest.mark.parametrize(("init", "functional"), FILL_PAIRS)
def test_fill_is_bit_identical_to_its_functional_fill_with_the_same_seed(init: FillInit, functional: Callable[..., Tensor]) -> None:
    assert torch.equal(init.fill(torch.empty(16, 8, 3, 3), generator=gen(3)), functional(torch.empty(16, 8, 3, 3), gen(3)))


def test_sparse_fill_is_its_functional_fill() -> None:
    assert torch.equal(Sparse(sparsity=0.5, std=2).fill(torch.empty(16, 8), generator=gen(3)),
                       F.sparse_(torch.empty(16, 8), 0.5, 2, generator=gen(3)))


def test_eye_fill_is_torch_eye() -> None:
    assert torch.equal(Eye().fill(torch.empty(3, 5)), torch.eye(3, 5))


def test_random_and_needs_fan_are_declared_per_class() -> None:
    assert {c.__name__ for c in CATALOGUE if not c.random} == {"Zeros", "Ones", "Eye", "Dirac"}
    assert {c.__name__ for c in CATALOGUE if c.needs_fan} == {"VarianceScaling", "LeCunNormal", "LeCunUniform"}


# --------------------------------------------------------------------------- validation
BAD_VALUES = [
    pytest.param(Dirac, dict(groups=0), ConfigValueError, "groups must be >= 1", id="dirac-groups-0"),
    pytest.param(Dirac, dict(groups=1.5), ConfigTypeError, "groups must be an int", id="dirac-groups-float"),
    pytest.param(Orthogonal, dict(gain="2"), ConfigTypeError, "gain must be a number", id="orthogonal-gain-str"),
    pytest.param(Sparse, dict(sparsity=1.5), ConfigValueError, r"sparsity is a fraction in \[0, 1\]", id="sparse-fraction"),
    pytest.param(Sparse, dict(sparsity=0.1, std=-1), ConfigValueError, "std must be >= 0", id="sparse-std"),
    pytest.param(VarianceScaling, dict(mode="fan_sum"), ConfigValueError, "mode must be one of 'fan_in'", id="vs-mode"),
    pytest.param(VarianceScaling, dict(distribution="gaussian"), ConfigValueError, "'truncated_normal'", id="vs-dist"),
    pytest.param(VarianceScaling, dict(scale=-1), ConfigValueError, "scale must be >= 0", id="vs-scale"),
    pytest.param(TruncNormalTF, dict(a=2, b=-2), ConfigValueError, "needs a < b", id="tf-bounds"),
    pytest.param(TruncNormalTF, dict(corrected="yes"), ConfigTypeError, "corrected must be True or False", id="tf-corrected"),
    pytest.param(DepthScaledNormal, dict(depth=0), ConfigValueError, "depth must be >= 1", id="depth-0"),
    pytest.param(DepthScaledNormal, dict(depth="layers"), ConfigValueError, "'blocks', 'position'", id="depth-str"),
    pytest.param(DepthScaledNormal, dict(depth=2.0), ConfigTypeError, "depth must be an int", id="depth-float"),
    pytest.param(EmbeddingNormal, dict(padding_idx=1.0), ConfigTypeError, "padding_idx must be an int", id="emb-pad"),
    pytest.param(EmbeddingNormal, dict(std=-1), ConfigValueError, "std must be >= 0", id="emb-std"),
]


@pytest.mark.parametrize(("cls", "kwargs", "error", "match"), BAD_VALUES)
def test_bad_arguments_raise_our_error_naming_the_class_and_argument(
    cls: type, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match) as info:
        cls(**kwargs)
    assert str(info.value).startswith(cls.__name__)


CANNOT_FILL = [
    pytest.param(Eye(), (4, 4, 3, 3), "it fills 2-d weights.*Use Dirac", id="eye-conv"),
    pytest.param(Dirac(), (4, 4), "it fills conv weights.*Use Eye", id="dirac-linear"),
    pytest.param(Dirac(groups=3), (4, 4, 3), "do not split into 3 groups", id="dirac-groups"),
    pytest.param(Orthogonal(), (8,), "at least 2 dimensions.*param='weight'", id="orthogonal-1d"),
    pytest.param(Sparse(sparsity=0.1), (4, 4, 3, 3), "2-d weights.*layer='Linear'", id="sparse-conv"),
    pytest.param(DeltaOrthogonal(), (4, 8, 3, 3), "fewer output.*Use Orthogonal", id="delta-out-lt-in"),
    pytest.param(DeltaOrthogonal(), (8, 4), "it fills conv weights", id="delta-linear"),
    pytest.param(LeCunNormal(), (8,), "fewer than 2 dimensions", id="lecun-1d"),
    pytest.param(EmbeddingNormal(padding_idx=5), (4, 3), "no row 5", id="embedding-row"),
]


@pytest.mark.parametrize(("init", "shape", "match"), CANNOT_FILL)
def test_check_tensor_names_the_tensor_and_the_fix(init: FillInit, shape: tuple[int, ...], match: str) -> None:
    with pytest.raises(ConfigValueError, match=rf"cannot fill net\.w: .*{match}"):
        init.check_tensor(torch.zeros(shape), "net.w")


@pytest.mark.parametrize("init", [Orthogonal(), Sparse(sparsity=0.1), LeCunNormal(), TruncNormalTF(), DeltaOrthogonal()],
                         ids=lambda i: type(i).__name__)
def test_random_initializers_refuse_integer_tensors(init: FillInit) -> None:
    with pytest.raises(ConfigValueError, match="floating-point"):
        init.check_tensor(torch.zeros(8, 4, 3, 3, dtype=torch.int64), "net.w")


@pytest.mark.parametrize("init", [Zeros(), Ones(), Eye()], ids=lambda i: type(i).__name__)
def test_structural_constants_fill_integer_tensors(init: FillInit) -> None:
    init.check_tensor(torch.zeros(3, 3, dtype=torch.int64), "net.w")


# --------------------------------------------------------------------------- through a config
class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1)
        self.fc = nn.Linear(8, 8)
        self.norm = nn.LayerNorm(8)


@pytest.mark.parametrize(
    ("cfg", "error", "match"),
    [
        pytest.param(dict(type="Dirac", layer="Linear"), ConfigValueError, "Dirac.*cannot fill fc.weight", id="dirac-on-linear"),
        pytest.param(dict(type="Sparse", layer="Conv2d", sparsity=0.1), ConfigValueError, "cannot fill conv.weight", id="sparse-conv"),
        pytest.param(dict(type="Orthogonal", layer="LayerNorm"), ConfigValueError, "cannot fill norm.weight", id="ortho-norm"),
        pytest.param(dict(type="Sparse", layer="Linear"), ConfigTypeError, "sparsity", id="sparse-needs-sparsity"),
        pytest.param(dict(type="VarianceScaling", layer="Linear", mode="fan"), ConfigValueError, "mode", id="vs-mode"),
        pytest.param(dict(type="DepthScaledNormal", layer="Linear"), ConfigValueError, "no block", id="depth-no-block"),
    ],
)
def test_a_bad_rule_raises_before_any_weight_changes(cfg: dict[str, Any], error: type[Exception], match: str) -> None:
    net = Net()
    before = state_of(net)
    with pytest.raises(error, match=match):
        initialize(net, [dict(type="Zeros", layer=["Conv2d", "Linear"]), cfg])
    assert_unchanged(net, before)


def test_each_name_fills_its_layers_through_initialize() -> None:
    net = Net()
    initialize(net, [dict(type="Dirac", layer="Conv2d"), dict(type="Eye", layer="Linear", bias=1),
                     dict(type="Ones", layer="LayerNorm")])
    x = torch.randn(1, 4, 5, 5, generator=gen())
    with torch.no_grad():
        y = net.conv(x)
    assert torch.equal(y[:, :4], x) and not y[:, 4:].any()
    assert torch.equal(net.fc.weight, torch.eye(8)) and torch.equal(net.fc.bias, torch.ones(8))
    assert torch.equal(net.norm.weight, torch.ones(8)) and torch.equal(net.norm.bias, torch.zeros(8))


def test_orthogonal_rule_with_a_gain_through_initialize() -> None:
    net = Net()
    initialize(net, dict(type="Orthogonal", layer="Linear", gain=F.calculate_gain("relu")), seed=0)
    w = net.fc.weight.double()
    assert torch.allclose(w @ w.T, 2 * torch.eye(8, dtype=torch.float64), atol=1e-5)


# --------------------------------------------------------------------------- EmbeddingNormal
class Embeddings(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.words = nn.Embedding(3000, 64, padding_idx=2)
        self.positions = nn.Embedding(512, 64)


def test_embedding_normal_zeros_the_padding_row_of_each_embedding_and_draws_the_rest() -> None:
    model = Embeddings()
    initialize(model, dict(type="EmbeddingNormal", layer="Embedding", std=0.02), seed=0)
    words = model.words.weight.detach()
    assert not words[2].any() and words[3].all()
    assert_fits(torch.cat([words[:2], words[3:]]), normal_cdf(0.02))
    assert model.positions.weight.detach().all()
    assert_std(model.positions.weight, 0.02)


def test_embedding_normal_takes_an_explicit_padding_row() -> None:
    t = EmbeddingNormal(std=1, padding_idx=-1).fill(torch.empty(5, 3), generator=gen())
    assert not t[4].any() and t[:4].all()
    assert EmbeddingNormal(padding_idx=0).specialize("words.weight", Embeddings()) == EmbeddingNormal(padding_idx=0)


def test_embedding_normal_without_a_padding_row_is_normal() -> None:
    assert torch.equal(EmbeddingNormal(std=2).fill(torch.empty(8, 8), generator=gen(3)),
                       F.normal_(torch.empty(8, 8), 0, 2, generator=gen(3)))


# --------------------------------------------------------------------------- depth-scaled
class Stack(nn.Module):
    def __init__(self, depth: int = 6) -> None:
        super().__init__()
        self.h = nn.ModuleList([nn.ModuleDict(dict(proj=nn.Linear(256, 256), fc=nn.Linear(256, 256))) for _ in range(depth)])
        self.head = nn.Linear(256, 4)


def test_depth_scaled_normal_divides_std_by_root_2_depth() -> None:
    t = DepthScaledNormal(std=0.02, depth=12).fill(torch.empty(SHAPE), generator=gen())
    assert_fits(t, normal_cdf(0.02 / math.sqrt(24)))
    assert_std(t, 0.02 / math.sqrt(24))


def test_depth_blocks_is_the_number_of_blocks_in_the_stack_as_in_gpt2() -> None:
    model = Stack(depth=6)
    report = initialize(model, dict(type="DepthScaledNormal", std=0.5, override=dict(name="h.*.proj")), seed=0)
    every_proj = torch.cat([b["proj"].weight.flatten() for b in model.h])
    assert_std(every_proj, 0.5 / math.sqrt(12))
    assert all(not b["proj"].bias.any() for b in model.h)
    assert report["h.5.proj.weight"].source == "rule"


def test_depth_position_is_each_blocks_1_based_position_as_in_torchtitan_depth_init() -> None:
    model = Stack(depth=4)
    initialize(model, dict(type="DepthScaledNormal", std=0.5, depth="position", override=dict(name="h.*.proj")), seed=0)
    for i, block in enumerate(model.h):
        assert float(block["proj"].weight.detach().std()) == pytest.approx(0.5 / math.sqrt(2 * (i + 1)), rel=0.02)


def test_a_depth_scaled_tensor_outside_any_block_is_an_error_naming_it_and_nothing_changes() -> None:
    model = Stack()
    before = state_of(model)
    with pytest.raises(ConfigValueError, match=r"no block .* holds 'head.weight'.*depth=12"):
        initialize(model, dict(type="DepthScaledNormal", layer="Linear"))
    assert_unchanged(model, before)


def test_a_depth_scaled_normal_with_an_unresolved_depth_refuses_to_fill_directly() -> None:
    with pytest.raises(ConfigValueError, match="specialize"):
        DepthScaledNormal().fill(torch.empty(4, 4))
    resolved = DepthScaledNormal().specialize("h.3.proj.weight", Stack(depth=6))
    assert resolved == DepthScaledNormal(depth=6)
    assert DepthScaledNormal(depth=5).specialize("head.weight", Stack()) == DepthScaledNormal(depth=5)


def test_block_position_takes_the_outermost_indexed_container() -> None:
    outer = nn.Module()
    outer.layers = nn.ModuleDict({str(i): nn.Module() for i in range(3)})
    outer.layers["2"].experts = nn.ModuleList([nn.Linear(2, 2) for _ in range(5)])
    assert block_position(outer, "layers.2.experts.4.weight") == (3, 3)
    seq = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    assert block_position(seq, "1.weight") == (2, 2)


# --------------------------------------------------------------------------- TruncNormal's warning
def test_truncnormal_with_explicit_bounds_that_cut_nothing_warns_and_names_truncnormaltf() -> None:
    with pytest.warns(InitWarning, match=r"150 standard deviations.*TruncNormalTF\(mean=0, std=0.02, a=-3, b=3\)"):
        TruncNormal(std=0.02, a=-3, b=3)


def test_the_warning_comes_from_a_config_too() -> None:
    with pytest.warns(InitWarning, match="nothing is truncated"):
        initialize(Net(), dict(type="TruncNormal", layer="Linear", std=0.02, a=-2.5, b=2.5))


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param(dict(std=0.02), id="mmengine-default-bounds"),
        pytest.param(dict(std=0.02, a=-2, b=2), id="default-bounds-spelled-out"),
        pytest.param(dict(std=1, a=-3, b=3), id="bounds-that-cut"),
        pytest.param(dict(mean=0.5, std=0.02, a=0, b=1), id="bounds-not-around-zero"),
        pytest.param(dict(std=0, a=-1, b=1), id="zero-std"),
    ],
)
def test_truncnormal_stays_silent_for_the_defaults_and_for_bounds_that_cut(kwargs: dict[str, float]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TruncNormal(**kwargs)


# --------------------------------------------------------------------------- values a dtype cannot hold
def test_orthogonal_with_a_gain_past_int64_fills_float32_and_is_refused_for_float16() -> None:
    init = Orthogonal(gain=-(2**64))
    weight = torch.empty(8, 4)
    init.check_tensor(weight, "fc.weight")
    init.fill(weight, generator=gen())
    unit = weight.double() / 2.0**64
    assert torch.allclose(unit.T @ unit, torch.eye(4, dtype=torch.float64), atol=1e-6)
    with pytest.raises(ConfigValueError, match=r"its values reach \|gain\| = 1.84467e\+19: more than float16's"):
        init.check_tensor(weight.half(), "fc.weight")


def test_delta_orthogonal_checks_its_gain_against_the_dtype() -> None:
    with pytest.raises(ConfigValueError, match="more than bfloat16's"):
        DeltaOrthogonal(gain=1e39).check_tensor(torch.zeros(8, 4, 3, 3, dtype=torch.bfloat16), "conv.weight")


def test_depth_scaled_normal_refuses_a_depth_that_makes_its_std_0() -> None:
    with pytest.raises(ConfigValueError, match=r"DepthScaledNormal: depth=~1e\+400 makes std / √\(2·depth\) 0"):
        DepthScaledNormal(depth=10**400)
    assert DepthScaledNormal(std=0.0, depth=10**400).scaled_std() == 0.0  # nothing to scale


def test_depth_scaled_normal_refuses_to_check_a_depth_still_to_resolve() -> None:
    with pytest.raises(ConfigValueError, match="knows its depth only from the tensor's position"):
        DepthScaledNormal().check_tensor(torch.zeros(4, 4), "h.0.c_proj.weight")


@pytest.mark.parametrize("init", [Sparse(sparsity=0.5, std=1e4), EmbeddingNormal(std=1e4), VarianceScaling(scale=1e12)],
                         ids=lambda i: type(i).__name__)
def test_catalogue_fills_check_their_std_against_the_dtype(init: FillInit) -> None:
    with pytest.raises(ConfigValueError, match="more than float16's largest finite value"):
        init.check_tensor(torch.zeros(64, 32, dtype=torch.float16), "net.w")
    init.check_tensor(torch.zeros(64, 32), "net.w")


def test_corrected_trunc_normal_tf_refuses_a_cut_too_far_in_a_tail_to_correct() -> None:
    with pytest.raises(ConfigValueError, match="TruncNormalTF: corrected=True: the standard deviation of N"):
        TruncNormalTF(a=40.0, b=50.0, corrected=True)
    TruncNormalTF(a=40.0, b=50.0)  # uncorrected: all values at the bound nearest the mean


@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.uint16, torch.uint32, torch.int64, torch.float16])
@pytest.mark.parametrize(("init", "shape"), [(Eye(), (3, 4)), (Dirac(groups=2), (4, 2, 3))], ids=["eye", "dirac"])
def test_identity_fills_write_any_dtype_torch_cannot_index_too(init: FillInit, shape: tuple[int, ...], dtype: torch.dtype) -> None:
    tensor = torch.full(shape, 1, dtype=dtype)
    init.check_tensor(tensor, "net.w")
    expected = init.fill(torch.empty(shape))
    assert torch.equal(init.fill(tensor).double(), expected.double())


def test_dirac_on_an_empty_weight_returns_at_once_whatever_groups_says() -> None:
    weight = torch.empty(0, 3, 3)
    Dirac(groups=10**400).check_tensor(weight, "conv.weight")
    assert Dirac(groups=10**400).fill(weight) is weight

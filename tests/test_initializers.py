"""The registered initializers: their defaults, validation, fills and names."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import torchinit
from torchinit import (
    WEIGHT_INITIALIZERS,
    BaseInit,
    Caffe2Xavier,
    ConfigTypeError,
    ConfigValueError,
    Constant,
    FillInit,
    Initializer,
    InitWarning,
    Kaiming,
    Normal,
    Pretrained,
    TruncNormal,
    Uniform,
    Xavier,
)
from torchinit import functional as F
from torchinit.initializers import describe_initializer

FILL_INITS = [Constant, Xavier, Normal, TruncNormal, Uniform, Kaiming, Caffe2Xavier]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def field_defaults(cls: type) -> dict[str, Any]:
    """Every field of a config class and its default (``...`` where it has none)."""
    return {
        f.name: (f.default if f.default is not dataclasses.MISSING else ...) for f in dataclasses.fields(cls)
    }


# --------------------------------------------------------------------------- defaults
@pytest.mark.parametrize(
    ("cls", "defaults"),
    [
        pytest.param(Constant, dict(val=...), id="Constant"),
        pytest.param(Xavier, dict(gain=1, distribution="normal"), id="Xavier"),
        pytest.param(Normal, dict(mean=0, std=1), id="Normal"),
        pytest.param(TruncNormal, dict(mean=0, std=1, a=-2, b=2), id="TruncNormal"),
        pytest.param(Uniform, dict(a=0, b=1), id="Uniform"),
        pytest.param(Kaiming, dict(a=0, mode="fan_out", nonlinearity="relu", distribution="normal"), id="Kaiming"),
        pytest.param(Caffe2Xavier, {}, id="Caffe2Xavier"),
    ],
)
def test_initializer_fields_and_defaults_are_spec_mds(cls: type, defaults: dict[str, Any]) -> None:
    assert field_defaults(cls) == defaults


def test_kaiming_defaults_to_a_0_fan_out_relu_normal() -> None:
    k = Kaiming()
    assert (k.a, k.mode, k.nonlinearity, k.distribution) == (0, "fan_out", "relu", "normal")


def test_pretrained_takes_a_checkpoint_and_defaults_to_no_prefix_on_cpu() -> None:
    defaults = field_defaults(Pretrained)
    assert defaults["checkpoint"] is ...
    assert defaults["prefix"] is None
    assert defaults["map_location"] == "cpu"


def test_constant_requires_val() -> None:
    with pytest.raises(TypeError, match="val"):
        Constant()  # type: ignore[call-arg]


@pytest.mark.parametrize("cls", [*FILL_INITS, Pretrained], ids=lambda c: c.__name__)
def test_initializer_arguments_are_keyword_only(cls: type) -> None:
    fields = dataclasses.fields(cls)
    assert all(f.kw_only for f in fields)


def test_positional_arguments_are_rejected() -> None:
    with pytest.raises(TypeError):
        Normal(0.0, 0.01)  # type: ignore[misc]


# --------------------------------------------------------------------------- frozen, comparable
@pytest.mark.parametrize(
    ("init", "field"),
    [
        (Constant(val=1), "val"),
        (Xavier(), "gain"),
        (Normal(), "std"),
        (TruncNormal(), "a"),
        (Uniform(), "b"),
        (Kaiming(), "mode"),
        (Pretrained(checkpoint="x.pth"), "prefix"),
    ],
    ids=lambda x: type(x).__name__ if not isinstance(x, str) else x,
)
def test_initializers_are_frozen(init: Any, field: str) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(init, field, 0)


def test_caffe2_xavier_is_frozen_too() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Caffe2Xavier().extra = 1  # type: ignore[attr-defined]


def test_initializers_with_the_same_arguments_are_equal_and_hashable() -> None:
    assert Normal(std=0.01) == Normal(mean=0, std=0.01)
    assert Normal(std=0.01) != Normal(std=0.02)
    assert len({Kaiming(), Kaiming(), Kaiming(mode="fan_in")}) == 2


# --------------------------------------------------------------------------- validation
BAD_VALUES = [
    pytest.param(Normal, dict(std=-1.0), ConfigValueError, "std must be >= 0", id="normal-negative-std"),
    pytest.param(Normal, dict(mean=math.nan), ConfigValueError, "mean must be finite", id="normal-nan-mean"),
    pytest.param(Normal, dict(std=math.inf), ConfigValueError, "std must be finite", id="normal-inf-std"),
    pytest.param(TruncNormal, dict(std=-0.5), ConfigValueError, "std must be >= 0", id="trunc-negative-std"),
    pytest.param(TruncNormal, dict(a=1.0, b=1.0), ConfigValueError, "needs a < b", id="trunc-a-equals-b"),
    pytest.param(TruncNormal, dict(a=2.0, b=-2.0), ConfigValueError, "needs a < b", id="trunc-a-above-b"),
    pytest.param(Uniform, dict(a=1.0, b=0.0), ConfigValueError, "needs a <= b", id="uniform-a-above-b"),
    pytest.param(Xavier, dict(distribution="foo"), ConfigValueError, "distribution must be one of 'normal', 'uniform'", id="xavier-distribution"),
    pytest.param(Kaiming, dict(distribution="foo"), ConfigValueError, "distribution must be one of 'normal', 'uniform'", id="kaiming-distribution"),
    pytest.param(Kaiming, dict(mode="fan_avg"), ConfigValueError, "mode must be one of 'fan_in', 'fan_out'", id="kaiming-mode"),
    pytest.param(Kaiming, dict(nonlinearity="rleu"), ConfigValueError, "Kaiming: unsupported nonlinearity 'rleu'. Did you mean 'relu'", id="kaiming-nonlinearity"),
    pytest.param(Kaiming, dict(nonlinearity=3), ConfigTypeError, "nonlinearity must be a str", id="kaiming-nonlinearity-int"),
    pytest.param(Kaiming, dict(a="0.1"), ConfigTypeError, "a must be a number", id="kaiming-a-str"),
    pytest.param(Constant, dict(val="1"), ConfigTypeError, "val must be a number", id="constant-val-str"),
    pytest.param(Constant, dict(val=True), ConfigTypeError, "val must be a number", id="constant-val-bool"),
    pytest.param(Constant, dict(val=None), ConfigTypeError, "val must be a number", id="constant-val-none"),
    pytest.param(Constant, dict(val=torch.tensor(1.0)), ConfigTypeError, "val must be a number", id="constant-val-tensor"),
    pytest.param(Xavier, dict(gain=[1.0]), ConfigTypeError, "gain must be a number", id="xavier-gain-list"),
    pytest.param(Normal, dict(std=False), ConfigTypeError, "std must be a number", id="normal-std-bool"),
    pytest.param(Pretrained, dict(checkpoint=3), ConfigTypeError, "checkpoint must be a path", id="pretrained-checkpoint-int"),
    pytest.param(Pretrained, dict(checkpoint="x.pth", prefix=1), ConfigTypeError, "prefix must be a str", id="pretrained-prefix-int"),
]


@pytest.mark.parametrize(("cls", "kwargs", "error", "match"), BAD_VALUES)
def test_bad_argument_raises_our_error_naming_the_class_and_argument(
    cls: type, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match) as info:
        cls(**kwargs)
    builtin = TypeError if error is ConfigTypeError else ValueError
    assert isinstance(info.value, builtin)


def test_value_error_messages_name_the_bad_value() -> None:
    with pytest.raises(ConfigValueError, match=r"got 'fan_avg' \(of type str\)"):
        Kaiming(mode="fan_avg")


def test_integer_arguments_are_accepted_for_float_fields() -> None:
    assert Normal(mean=0, std=1).std == 1
    assert Constant(val=0).val == 0


# --------------------------------------------------------------------------- fill is the functional fill
# (initializer, the functional call it must match bit for bit under the same generator)
FILL_PAIRS = [
    pytest.param(Constant(val=0.25), lambda t, g: F.constant_(t, 0.25), id="Constant"),
    pytest.param(Xavier(), lambda t, g: F.xavier_(t, generator=g), id="Xavier"),
    pytest.param(Xavier(gain=2, distribution="uniform"), lambda t, g: F.xavier_(t, 2, "uniform", generator=g), id="Xavier-uniform"),
    pytest.param(Normal(), lambda t, g: F.normal_(t, generator=g), id="Normal"),
    pytest.param(Normal(mean=1, std=0.01), lambda t, g: F.normal_(t, 1, 0.01, generator=g), id="Normal-args"),
    pytest.param(TruncNormal(), lambda t, g: F.trunc_normal_(t, generator=g), id="TruncNormal"),
    pytest.param(
        TruncNormal(mean=0.5, std=0.02, a=0.0, b=1.0),
        lambda t, g: F.trunc_normal_(t, 0.5, 0.02, 0.0, 1.0, generator=g),
        id="TruncNormal-args",
    ),
    pytest.param(Uniform(), lambda t, g: F.uniform_(t, generator=g), id="Uniform"),
    pytest.param(Uniform(a=-3, b=-1), lambda t, g: F.uniform_(t, -3, -1, generator=g), id="Uniform-args"),
    pytest.param(Kaiming(), lambda t, g: F.kaiming_(t, generator=g), id="Kaiming"),
    pytest.param(
        Kaiming(a=0.1, mode="fan_in", nonlinearity="leaky_relu", distribution="uniform"),
        lambda t, g: F.kaiming_(t, 0.1, "fan_in", "leaky_relu", "uniform", generator=g),
        id="Kaiming-args",
    ),
    pytest.param(Caffe2Xavier(), lambda t, g: F.caffe2_xavier_(t, generator=g), id="Caffe2Xavier"),
]


@pytest.mark.parametrize(("init", "functional"), FILL_PAIRS)
def test_fill_is_bit_identical_to_the_functional_fill_with_the_same_seed(
    init: FillInit, functional: Callable[[Tensor, torch.Generator], Tensor]
) -> None:
    ours = init.fill(torch.empty(16, 8, 3, 3), generator=gen(3))
    expected = functional(torch.empty(16, 8, 3, 3), gen(3))
    assert torch.equal(ours, expected)


@pytest.mark.parametrize(("init", "functional"), FILL_PAIRS)
def test_fill_returns_the_tensor_it_filled_in_place(init: FillInit, functional: Any) -> None:
    p = nn.Parameter(torch.zeros(16, 8))
    assert init.fill(p, generator=gen()) is p
    assert p.requires_grad


def test_random_fill_without_a_generator_draws_from_the_global_rng() -> None:
    torch.manual_seed(11)
    first = Kaiming().fill(torch.empty(16, 8))
    torch.manual_seed(11)
    assert torch.equal(Kaiming().fill(torch.empty(16, 8)), first)


def test_kaiming_fill_draws_with_std_sqrt_2_over_fan_out() -> None:
    w = Kaiming().fill(torch.empty(64, 256, 3, 3), generator=gen())
    assert float(w.std()) == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.01)


# --------------------------------------------------------------------------- check_tensor
@pytest.mark.parametrize(
    "init", [Xavier(), Normal(), TruncNormal(), Uniform(), Kaiming(), Caffe2Xavier()], ids=lambda i: type(i).__name__
)
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.bool])
def test_random_initializers_reject_a_tensor_that_is_not_floating(init: FillInit, dtype: torch.dtype) -> None:
    with pytest.raises(ConfigValueError, match=r"cannot fill net\.w: it is a torch\.\w+ tensor.*Use a Constant rule"):
        init.check_tensor(torch.zeros(4, 4, dtype=dtype), "net.w")


@pytest.mark.parametrize("dtype", [torch.int64, torch.float32, torch.float16])
def test_constant_accepts_any_tensor(dtype: torch.dtype) -> None:
    Constant(val=1).check_tensor(torch.zeros(4, dtype=dtype), "net.w")
    Constant(val=1).check_tensor(torch.zeros((), dtype=dtype), "net.w")


@pytest.mark.parametrize("init", [Xavier(), Kaiming(), Caffe2Xavier()], ids=lambda i: type(i).__name__)
@pytest.mark.parametrize("shape", [(), (8,)])
def test_fan_based_initializers_reject_a_tensor_with_fewer_than_2_dimensions(init: FillInit, shape: tuple[int, ...]) -> None:
    with pytest.raises(ConfigValueError, match=r"cannot fill bn\.weight: .*fewer than 2 dimensions"):
        init.check_tensor(torch.zeros(shape), "bn.weight")


@pytest.mark.parametrize("init", [Normal(), TruncNormal(), Uniform()], ids=lambda i: type(i).__name__)
def test_initializers_that_need_no_fan_accept_a_1_dim_tensor(init: FillInit) -> None:
    init.check_tensor(torch.zeros(8), "bn.weight")


@pytest.mark.parametrize("init", [Xavier(), Kaiming(), Caffe2Xavier()], ids=lambda i: type(i).__name__)
def test_fan_based_initializers_accept_a_floating_tensor_with_2_or_more_dimensions(init: FillInit) -> None:
    init.check_tensor(torch.zeros(4, 2), "fc.weight")
    init.check_tensor(torch.zeros(4, 2, 3, 3, dtype=torch.float16), "conv.weight")


def test_random_and_needs_fan_are_declared_per_class() -> None:
    assert {c.__name__ for c in FILL_INITS if c.random} == {
        "Xavier", "Normal", "TruncNormal", "Uniform", "Kaiming", "Caffe2Xavier"
    }
    assert {c.__name__ for c in FILL_INITS if c.needs_fan} == {"Xavier", "Kaiming", "Caffe2Xavier"}


# --------------------------------------------------------------------------- describe
@pytest.mark.parametrize(
    ("init", "text"),
    [
        (Constant(val=1), "Constant(val=1)"),
        (Normal(std=0.01), "Normal(mean=0, std=0.01)"),
        (TruncNormal(std=0.02), "TruncNormal(mean=0, std=0.02, a=-2, b=2)"),
        (Uniform(a=-1, b=1), "Uniform(a=-1, b=1)"),
        (Xavier(distribution="uniform"), "Xavier(gain=1, distribution=uniform)"),
        (Kaiming(), "Kaiming(a=0, mode=fan_out, nonlinearity=relu, distribution=normal)"),
        (Caffe2Xavier(), "Caffe2Xavier()"),
        (Pretrained(checkpoint="r50.pth"), "Pretrained('r50.pth')"),
        (Pretrained(checkpoint="r50.pth", prefix="backbone"), "Pretrained('r50.pth', prefix='backbone')"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_describe_names_the_class_and_every_argument(init: Any, text: str) -> None:
    assert init.describe() == text


# --------------------------------------------------------------------------- names
@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("Constant", Constant),
        ("Xavier", Xavier),
        ("Normal", Normal),
        ("TruncNormal", TruncNormal),
        ("Uniform", Uniform),
        ("Kaiming", Kaiming),
        ("Caffe2Xavier", Caffe2Xavier),
        ("Pretrained", Pretrained),
    ],
)
def test_each_registered_name_looks_up_its_class(name: str, cls: type) -> None:
    assert WEIGHT_INITIALIZERS.get(name) is cls
    assert cls.__name__ == name


@pytest.mark.parametrize(
    "name", ["Constant", "Xavier", "Normal", "TruncNormal", "Uniform", "Kaiming", "Caffe2Xavier", "Pretrained"]
)
def test_mmengine_class_name_is_mmengines_initializer_object_for_the_same_fill(name: str) -> None:
    obj_cls = getattr(torchinit, f"{name}Init")
    assert torchinit.INITIALIZERS.get(name) is obj_cls
    assert issubclass(obj_cls, torchinit.BaseInit) and obj_cls.__name__ == f"{name}Init"


def test_fill_initializers_satisfy_the_initializer_protocol() -> None:
    assert all(isinstance(cls(val=1) if cls is Constant else cls(), Initializer) for cls in FILL_INITS)
    assert not isinstance(Pretrained(checkpoint="x.pth"), Initializer)


# --------------------------------------------------------------------------- writing your own
def test_a_frozen_fill_init_subclass_is_validated_and_fills() -> None:
    @dataclass(frozen=True, kw_only=True)
    class Scaled(FillInit):
        factor: float = 0.1

        def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
            return F.normal_(tensor, 0.0, self.factor, generator=generator)

    with pytest.raises(ConfigTypeError, match="Scaled: factor must be a number"):
        Scaled(factor="big")  # type: ignore[arg-type]
    assert torch.equal(Scaled().fill(torch.empty(3, 3), generator=gen()), F.normal_(torch.empty(3, 3), 0, 0.1, generator=gen()))
    assert Scaled(factor=0.5).describe() == "Scaled(factor=0.5)"


def test_fill_init_base_fill_is_abstract() -> None:
    with pytest.raises(NotImplementedError):
        FillInit().fill(torch.empty(2))


# --------------------------------------------------------------------------- BaseInit, mmengine style
def test_base_init_keeps_bias_layer_and_wholemodule_for_the_subclass() -> None:
    init = BaseInit(bias=0.5, layer="Conv2d")
    assert (init.bias, init.layer, init.wholemodule) == (0.5, ["Conv2d"], False)
    assert BaseInit().layer == []
    assert BaseInit(layer=("Conv2d", "Linear")).layer == ["Conv2d", "Linear"]


def test_base_init_bias_prob_overrides_bias() -> None:
    assert BaseInit(bias=3, bias_prob=0.01).bias == pytest.approx(-4.59511985013459)


@pytest.mark.parametrize("bias", [True, "0", None])
def test_base_init_rejects_a_bias_that_is_not_a_number(bias: Any) -> None:
    with pytest.raises(ConfigTypeError, match="bias must be a number"):
        BaseInit(bias=bias)


def test_base_init_rejects_a_bias_prob_outside_zero_one() -> None:
    with pytest.raises(ConfigValueError, match="strictly between 0 and 1"):
        BaseInit(bias_prob=1)


def test_base_init_call_must_be_written_by_the_subclass() -> None:
    with pytest.raises(NotImplementedError):
        BaseInit()(nn.Linear(2, 2))


# --------------------------------------------------------------------------- values a dtype cannot hold
@pytest.mark.parametrize(
    ("init", "dtype", "fragment"),
    [
        pytest.param(Constant(val=1e308), torch.float32, "val=1e+308: more than float32's largest finite value", id="val"),
        pytest.param(Constant(val=-1e39), torch.float32, "val=-1e+39: more than float32's", id="bias-like"),
        pytest.param(Constant(val=70000), torch.float16, "val=70000: more than float16's", id="val-half"),
        pytest.param(Constant(val=300), torch.int8, "val=300 is outside the range of int8 [-128, 127]", id="int8"),
        pytest.param(Constant(val=-1), torch.uint8, "outside the range of uint8", id="uint8-negative"),
        pytest.param(Constant(val=2), torch.bool, "a bool tensor, which holds only 0 and 1", id="bool"),
        pytest.param(Constant(val=0.5), torch.int64, "would be truncated to 0", id="fraction-int"),
        pytest.param(Normal(std=1e4), torch.float16, "N(0, 10000²) draws values up to 100000", id="normal-std"),
        pytest.param(Normal(mean=3.3e38), torch.float32, "draws values up to 3.3e+38", id="normal-mean"),
        pytest.param(Uniform(a=-3e38, b=3e38), torch.float32, "spans b - a = 6e+38", id="uniform-width"),
        pytest.param(Uniform(a=0, b=1e39), torch.float32, "U(0, 1e+39) draws values up to 1e+39", id="uniform-bound"),
        pytest.param(TruncNormal(std=1e38, a=-3e38, b=3e38), torch.float32, "draws values up to 1e+39", id="trunc"),
        pytest.param(Xavier(gain=1e308), torch.float64, "more than float64's", id="xavier-float64"),
        pytest.param(Xavier(gain=1e5, distribution="uniform"), torch.float16, "more than float16's", id="xavier-half"),
    ],
)
def test_check_tensor_refuses_a_value_the_dtype_cannot_hold_naming_rule_tensor_dtype_value_and_fix(
    init: FillInit, dtype: torch.dtype, fragment: str
) -> None:
    tensor = torch.zeros(8, 4, dtype=dtype)
    with pytest.raises(ConfigValueError) as info:
        init.check_tensor(tensor, "net.w")
    text = str(info.value)
    assert text.startswith(f"{init.describe()} cannot fill net.w: ")
    assert fragment in text
    if dtype.is_floating_point:
        assert "wider dtype" in text  # the fix
    with pytest.raises(ConfigValueError):  # and the fill refuses it the same way, before writing
        init.fill(tensor)
    assert bool((tensor == 0).all())


@pytest.mark.parametrize(
    ("init", "dtype"),
    [(Constant(val=65504), torch.float16), (Constant(val=2**64), torch.float32), (Constant(val=2**62 + 1), torch.int64),
     (Constant(val=255), torch.uint8), (Constant(val=1), torch.bool), (Normal(std=6000), torch.float16),
     (Xavier(gain=1e300), torch.float64), (Kaiming(a=1e200, nonlinearity="leaky_relu"), torch.float32)],
    ids=lambda v: v.describe() if hasattr(v, "describe") else str(v),
)
def test_values_the_dtype_holds_pass_the_check_and_fill_exactly_or_finitely(init: FillInit, dtype: torch.dtype) -> None:
    tensor = torch.zeros(8, 4, dtype=dtype)
    init.check_tensor(tensor, "net.w")
    init.fill(tensor)
    if isinstance(init, Constant):
        assert tensor.flatten().tolist() == [init.val] * 32
    else:
        assert bool(torch.isfinite(tensor).all())


@pytest.mark.parametrize("dtype", [torch.complex64, torch.float8_e4m3fn, torch.int32])
def test_random_fills_refuse_dtypes_torch_cannot_draw_in(dtype: torch.dtype) -> None:
    with pytest.raises(ConfigValueError, match=r"random fills need a floating-point one \(float16, bfloat16"):
        Normal().check_tensor(torch.zeros(4, dtype=dtype), "net.w")


def test_fills_refuse_a_sparse_tensor() -> None:
    with pytest.raises(ConfigValueError, match="it is a torch.sparse_coo tensor, and fills write dense"):
        Constant(val=0).check_tensor(torch.zeros(4, 4).to_sparse(), "net.w")


def test_check_values_is_the_hook_for_your_own_conditions() -> None:
    @dataclass(frozen=True, kw_only=True)
    class EvenRows(FillInit):
        random = False

        def check_values(self, tensor: Tensor) -> None:
            if len(tensor) % 2:
                raise ConfigValueError("it needs an even number of rows.")

        def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
            return tensor.zero_()

    EvenRows().check_tensor(torch.ones(4), "net.w")
    with pytest.raises(ConfigValueError, match=r"^EvenRows\(\) cannot fill net.w: it needs an even number of rows.$"):
        EvenRows().check_tensor(torch.ones(3), "net.w")


def test_truncnormal_warns_on_construction_when_the_mean_is_2_std_outside_the_bounds() -> None:
    with pytest.warns(InitWarning, match=r"mean is more than 2 std from \[a, b\] in trunc_normal_"):
        init = TruncNormal(mean=0.0, std=1.0, a=3.0, b=4.0)
    tensor = torch.empty(1000)
    init.fill(tensor, generator=torch.Generator().manual_seed(0))  # no second warning per tensor
    assert 3.0 <= float(tensor.min()) and float(tensor.max()) <= 4.0


def test_a_number_past_float64_is_not_finite() -> None:
    with pytest.raises(ConfigValueError, match=r"Normal: std must be finite, got ~1e\+400 \(beyond float64"):
        Normal(std=10**400)


def test_base_init_rejects_a_layer_that_is_not_names_and_a_bias_prob_too_close_to_0() -> None:
    class Mine(BaseInit):
        def __call__(self, module: nn.Module) -> None: ...

    with pytest.raises(ConfigTypeError, match="Mine: layer must be a class name or a list of them, got 3"):
        Mine(layer=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigValueError, match="Mine: bias_prob: prior_prob=1e-320 is too close to 0"):
        Mine(bias_prob=1e-320)


def test_pretrained_turns_a_revise_keys_that_cannot_be_read_into_a_config_error() -> None:
    def pairs() -> Any:
        yield (r"^module\.", "")
        raise OSError("disk gone")

    with pytest.raises(ConfigValueError, match=r"Pretrained: revise_keys could not be read: disk gone \(OSError\)"):
        Pretrained(checkpoint="x.pth", revise_keys=pairs())  # type: ignore[arg-type]


def test_describe_initializer_survives_a_describe_that_raises() -> None:
    class Broken:
        def describe(self) -> str:
            raise RuntimeError("no")

    assert describe_initializer(Broken()) == "Broken"

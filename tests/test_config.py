"""Every bad init_cfg raises a clear error of our family, and changes no weight."""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any

import pytest
import torch
from conftest import assert_unchanged, state_of
from test_config_properties import LyingMapping, PlainMapping, RaisingMapping
from torch import nn

import torchinit
from torchinit import (
    BaseModule,
    ConfigError,
    ConfigKeyError,
    ConfigTypeError,
    ConfigValueError,
    OverrideNameError,
    TorchInitError,
    UnknownTypeError,
    initialize,
)
from torchinit._config_memo import parse_init_cfg_once
from torchinit.config import copy_init_cfg, parse_init_cfg


class Net(BaseModule):
    def __init__(self, init_cfg: Any = None) -> None:
        super().__init__(init_cfg)
        self.conv = nn.Conv2d(2, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)


GOOD = dict(type="Normal", layer="Conv2d", std=0.5)

# (config, our class, the builtin mmengine raises, a fragment the message must contain)
BAD_CONFIGS = [
    pytest.param(dict(type="Kaimng", layer="Conv2d"), UnknownTypeError, KeyError, "Did you mean 'Kaiming'", id="typo-in-type"),
    pytest.param(dict(type="os.system", layer="Conv2d"), UnknownTypeError, KeyError, "not a registered", id="dotted-path-type"),
    pytest.param(dict(layer="Conv2d", val=1), ConfigKeyError, KeyError, "has no 'type'", id="missing-type"),
    pytest.param(dict(type="Kaiming", layer="Conv2d", sdt=1), ConfigTypeError, TypeError, "It takes: a, mode", id="unknown-arg"),
    pytest.param(dict(type="Normal", layer="Conv2d", mode="fan_in"), ConfigTypeError, TypeError, "'mode'", id="arg-of-another-init"),
    pytest.param(dict(type="Constant", layer="Conv2d"), ConfigTypeError, TypeError, "missing required argument(s) 'val'", id="missing-val"),
    pytest.param(dict(type="Constant", layer="Conv2d", val=1, bias="0"), ConfigTypeError, TypeError, "bias must be a real number", id="bias-str"),
    pytest.param(dict(type="Constant", layer="Conv2d", val=1, bias=True), ConfigTypeError, TypeError, "bias must be a real number", id="bias-bool"),
    pytest.param(dict(type="Constant", layer="Conv2d", val=1, bias=torch.tensor(0.0)), ConfigTypeError, TypeError, "bias", id="bias-tensor"),
    pytest.param(dict(type="Constant", layer="Conv2d", val="1"), ConfigTypeError, TypeError, "val must be a number", id="val-str"),
    pytest.param(dict(type="Normal", layer="Conv2d", bias_prob=1.5), ConfigValueError, ValueError, "strictly between 0 and 1", id="bias-prob-range"),
    pytest.param(dict(type="Normal", layer="Conv2d", bias_prob="0.01"), ConfigTypeError, TypeError, "bias_prob", id="bias-prob-str"),
    pytest.param(dict(type="Normal", layer=3), ConfigTypeError, TypeError, "layer must be", id="layer-int"),
    pytest.param(dict(type="Normal", layer=["Conv2d", 3]), ConfigTypeError, TypeError, "layer entries", id="layer-list-int"),
    pytest.param(dict(type="Normal", layer="Conv2d", override="fc"), ConfigTypeError, TypeError, "override must be", id="override-str"),
    pytest.param(dict(type="Normal", override=dict(type="Constant", val=1)), ConfigValueError, ValueError, "has no 'name'", id="override-no-name"),
    pytest.param(dict(type="Normal", override=dict(name="fc", val=3)), ConfigValueError, ValueError, "no 'type'", id="override-args-no-type"),
    pytest.param(dict(type="Normal", override=dict(name="fcc")), OverrideNameError, RuntimeError, "Did you mean 'fc'", id="override-unknown-name"),
    pytest.param(dict(type="Normal", override=[dict(name="fc"), "conv"]), ConfigTypeError, TypeError, "override[1]", id="override-list-str"),
    pytest.param(dict(type="Normal", override=dict(name=1)), ConfigTypeError, TypeError, "name must be", id="override-name-int"),
    pytest.param(dict(type="Xavier", layer="Conv2d", distribution="normall"), ConfigValueError, ValueError, "'normal', 'uniform'", id="bad-distribution"),
    pytest.param(dict(type="Kaiming", layer="Conv2d", mode="fan_avg"), ConfigValueError, ValueError, "mode must be", id="bad-kaiming-mode"),
    pytest.param(dict(type="Kaiming", layer="Conv2d", nonlinearity="rleu"), ConfigValueError, ValueError, "Did you mean 'relu'", id="bad-nonlinearity"),
    pytest.param(dict(type="Normal", layer="Conv2d", std=-1), ConfigValueError, ValueError, "std must be >= 0", id="negative-std"),
    pytest.param(dict(type="TruncNormal", layer="Conv2d", a=2, b=-2), ConfigValueError, ValueError, "a < b", id="trunc-bounds"),
    pytest.param(dict(type="Kaiming", layer=["Conv2d", "BatchNorm2d"]), ConfigValueError, ValueError, "bn.weight", id="fan-on-1d"),
    pytest.param(dict(type="Pretrained"), ConfigTypeError, TypeError, "'checkpoint'", id="pretrained-no-checkpoint"),
    pytest.param(dict(type="Pretrained", checkpoint="x.pth", layer="Conv2d"), ConfigTypeError, TypeError, "does not take 'layer'", id="pretrained-layer"),
    pytest.param(dict(type="Pretrained", checkpoint="x.pth", param="weight"), ConfigTypeError, TypeError, "does not take 'param'", id="pretrained-param"),
    pytest.param(dict(type="Normal", layer="Conv2d", param=""), ConfigTypeError, TypeError, "param must be", id="param-empty"),
    pytest.param("Kaiming", ConfigTypeError, TypeError, "dict or a list", id="init-cfg-str"),
    pytest.param(["Kaiming"], ConfigTypeError, TypeError, "each rule must be a dict", id="list-of-str"),
    pytest.param([GOOD, dict(type="Kaimng")], UnknownTypeError, KeyError, "init_cfg[1]", id="second-rule-bad"),
    # validation that used to crash with a foreign exception (issue 11)
    pytest.param({1: 2, "type": "Constant", "val": 1}, ConfigTypeError, TypeError, "got the key 1 (of type int)", id="int-key"),
    pytest.param(dict(type="Constant", layer="Conv2d", val=10**400), ConfigValueError, ValueError, "val must be finite, got ~1e+400", id="huge-int-val"),
    pytest.param(dict(type="Constant", layer="Conv2d", val=1, bias=-(10**400)), ConfigValueError, ValueError, "bias must be finite", id="huge-int-bias"),
    pytest.param(dict(type="Normal", layer="Conv2d", bias_prob=1e-320), ConfigValueError, ValueError, "bias_prob=1e-320 is too close to 0", id="bias-prob-tiny"),
    pytest.param(dict(type="Normal", layer="Conv2d", bias_prob=10**400), ConfigValueError, ValueError, "bias_prob must lie strictly", id="bias-prob-huge-int"),
    pytest.param(dict(type="Normal", override=dict(name=None)), ConfigValueError, ValueError, "has no 'name'", id="override-name-none"),
    pytest.param(dict(type="DepthScaledNormal", layer="Conv2d", depth=10**400), ConfigValueError, ValueError, "depth=~1e+400 makes std", id="depth-huge"),
    # values a tensor's dtype cannot hold: refused while planning, before any write
    pytest.param(dict(type="Constant", layer="Conv2d", val=1e308), ConfigValueError, ValueError, "val=1e+308: more than float32's largest", id="val-past-float32"),
    pytest.param(dict(type="Uniform", layer="Conv2d", a=-1e39, b=0), ConfigValueError, ValueError, "U(-1e+39, 0) draws values up to 1e+39: more than float32's", id="uniform-past-float32"),
    pytest.param(dict(type="Xavier", layer="Conv2d", gain=1e308), ConfigValueError, ValueError, "Xavier(gain=1e+308, distribution=normal) cannot fill conv.weight", id="xavier-gain"),
    pytest.param(dict(type="Normal", layer="Conv2d", std=1e38), ConfigValueError, ValueError, "N(0, 1e+38²) draws values up to 1e+39", id="normal-std"),
]


@pytest.mark.parametrize(("cfg", "ours", "builtin", "fragment"), BAD_CONFIGS)
def test_initialize_rejects_a_bad_config_and_changes_nothing(cfg: Any, ours: type, builtin: type, fragment: str) -> None:
    model = Net()
    before = state_of(model)
    with pytest.raises(ours) as info:
        initialize(model, cfg)
    assert isinstance(info.value, builtin) and isinstance(info.value, ConfigError)
    assert fragment in str(info.value)
    assert_unchanged(model, before)


@pytest.mark.parametrize(("cfg", "ours", "builtin", "fragment"), BAD_CONFIGS)
def test_init_weights_rejects_a_bad_config_in_any_child_and_changes_nothing(
    cfg: Any, ours: type, builtin: type, fragment: str
) -> None:
    class Parent(BaseModule):
        def __init__(self) -> None:
            super().__init__(dict(type="Constant", layer="Linear", val=3))
            self.body = Net(cfg)

    model = Parent()
    before = state_of(model)
    with pytest.raises(ours) as info:
        model.init_weights()
    assert isinstance(info.value, builtin) and isinstance(info.value, TorchInitError)
    assert "body (Net)" in str(info.value)
    assert_unchanged(model, before)
    assert not model.is_init and not model.body.is_init


def test_unknown_type_message_is_not_wrapped_in_quotes() -> None:
    with pytest.raises(UnknownTypeError) as info:
        parse_init_cfg(dict(type="Kaimng"))
    assert not str(info.value).startswith("'")


def test_unknown_argument_message_names_what_the_initializer_takes() -> None:
    with pytest.raises(ConfigTypeError) as info:
        parse_init_cfg(dict(type="Normal", sdt=0.1))
    text = str(info.value)
    assert "'sdt'" in text and "Did you mean 'std'" in text and "mean, std" in text and "bias_prob" in text


def test_an_mmengine_scoped_type_name_resolves() -> None:
    (rule,) = parse_init_cfg(dict(type="mmengine.Constant", val=1, layer="Conv2d"))
    assert rule.describe() == "Constant(val=1)"


def test_an_empty_or_none_config_is_no_rules() -> None:
    assert parse_init_cfg(None) == () and parse_init_cfg([]) == () and parse_init_cfg(()) == ()


def test_a_tuple_of_rules_is_accepted() -> None:
    assert len(parse_init_cfg((GOOD, GOOD))) == 2


def test_a_plain_function_may_be_the_type() -> None:
    def ones_(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.fill_(1)

    model = Net()
    initialize(model, dict(type=ones_, layer="Linear"))
    assert bool(torch.all(model.fc.weight == 1))


# --------------------------------------------------------------------------- any input: a config error or success
def deep(depth: int) -> Any:
    value: Any = dict(type="Constant", val=1, layer="Conv2d")
    for _ in range(depth):
        value = [value]
    return value


def test_a_config_nested_3000_deep_is_a_clear_error_not_a_recursion_error() -> None:
    model = Net()
    before = state_of(model)
    with pytest.raises(ConfigValueError, match=r"init_cfg\[0\]\[0\]\[0\]\.\.\. is nested more than 64 levels deep"):
        initialize(model, deep(3000))
    assert_unchanged(model, before)


def test_nesting_up_to_the_limit_is_accepted_where_a_value_may_nest() -> None:
    (rule,) = parse_init_cfg(dict(type="Constant", val=1, layer="Conv2d", override=None, bias=0))
    assert rule.raw == dict(type="Constant", val=1, layer="Conv2d", override=None, bias=0)
    parse_init_cfg(dict(type=lambda t, extra: t, layer="Linear", extra=deep(60)))


@pytest.mark.parametrize("how", ["list", "rule", "through-layer"])
def test_a_config_that_contains_itself_is_a_clear_error(how: str) -> None:
    rule: dict[str, Any] = dict(type="Normal", layer=["Conv2d"])
    cfg: Any = rule
    if how == "list":
        cfg = [rule]
        cfg.append(cfg)
    elif how == "rule":
        rule["override"] = rule
    else:
        rule["layer"].append(rule)
    model = Net()
    before = state_of(model)
    with pytest.raises(ConfigValueError, match="refers to itself"):
        initialize(model, cfg)
    assert_unchanged(model, before)


def test_the_same_dict_used_twice_is_not_a_self_reference() -> None:
    shared = dict(type="Constant", val=1, layer="Conv2d")
    assert len(parse_init_cfg([shared, shared])) == 2


def test_a_mapping_that_claims_a_key_it_lacks_is_a_config_error() -> None:
    with pytest.raises(ConfigValueError, match="LyingMapping lists the key 'layer' but has no value for it"):
        parse_init_cfg(LyingMapping(dict(type="Constant", val=1)))


def test_a_mapping_whose_methods_raise_is_a_config_error_with_the_cause() -> None:
    with pytest.raises(ConfigTypeError, match=r"init_cfg\[1\]: reading the keys of .* raised no length here \(OSError\)") as info:
        parse_init_cfg([GOOD, RaisingMapping()])
    assert isinstance(info.value.__cause__, OSError)


@pytest.mark.parametrize("mapping", [MappingProxyType, PlainMapping])
def test_an_honest_mapping_that_is_not_a_dict_works(mapping: Any) -> None:
    (rule,) = parse_init_cfg(mapping(dict(type="Constant", val=2, layer="Linear")))
    assert rule.describe() == "Constant(val=2)" and rule.layer == ("Linear",)


class Exploding:
    """An initializer class whose constructor raises what it is given."""

    def __init__(self, error: str = "TypeError") -> None:
        raise {"TypeError": TypeError, "ValueError": ValueError, "RuntimeError": RuntimeError,
               "KeyError": KeyError}[error]("inside the constructor")


@pytest.mark.parametrize(
    ("error", "ours", "builtin"),
    [("TypeError", ConfigTypeError, TypeError), ("ValueError", ConfigValueError, ValueError),
     ("RuntimeError", ConfigValueError, ValueError), ("KeyError", ConfigKeyError, KeyError)],
)
def test_a_type_whose_constructor_raises_is_a_config_error_naming_the_rule_and_class(
    error: str, ours: type, builtin: type
) -> None:
    with pytest.raises(ours) as info:
        parse_init_cfg(dict(type=Exploding, layer="Linear", error=error), "init_cfg of head")
    assert isinstance(info.value, builtin)
    assert str(info.value).startswith("init_cfg of head: initializer 'Exploding'")
    assert "inside the constructor" in str(info.value)
    assert type(info.value.__cause__).__name__ == error


# --------------------------------------------------------------------------- functions as type
@pytest.mark.parametrize(
    ("cfg", "fragment"),
    [
        pytest.param(dict(type=nn.init.normal_, layer="Linear", sdt=0.5),
                     "normal_ (after the tensor) got unexpected argument(s) 'sdt'. Did you mean 'std'? It takes: mean, std.",
                     id="misspelled"),
        pytest.param(dict(type=nn.init.sparse_, layer="Linear"), "is missing required argument(s) 'sparsity'", id="missing"),
        pytest.param(dict(type=lambda: None, layer="Linear"), "must take the tensor as its first positional", id="no-tensor"),
        pytest.param(dict(type=nn.init.normal_, layer="Linear", generator=None), "generator is passed", id="generator"),
        pytest.param(dict(type=nn.init.normal_, layer="Linear", tensor=1), "unexpected argument(s) 'tensor'", id="the-tensor"),
    ],
)
def test_a_function_as_type_must_bind_its_arguments_before_anything_is_written(cfg: dict[str, Any], fragment: str) -> None:
    model = Net()
    before = state_of(model)
    with pytest.raises(ConfigTypeError) as info:
        initialize(model, cfg)
    assert fragment in str(info.value)
    assert_unchanged(model, before)


def test_a_function_taking_keyword_arguments_accepts_any_of_them() -> None:
    def scaled(tensor: torch.Tensor, **options: float) -> torch.Tensor:
        return tensor.fill_(options["value"])

    model = Net()
    initialize(model, dict(type=scaled, layer="Linear", value=3.0))
    assert bool(torch.all(model.fc.weight == 3.0))


def test_a_builtin_without_a_signature_is_accepted_and_run() -> None:
    (rule,) = parse_init_cfg(dict(type=torch.Tensor.normal_, layer="Linear", std=0.5))
    assert rule.init.kwargs == {"std": 0.5}


# --------------------------------------------------------------------------- copy_init_cfg
class ConfigDict(dict):  # type: ignore[type-arg]
    """Like mmengine's ConfigDict: a dict subclass whose type code relies on."""


def test_copy_init_cfg_is_a_deep_copy_that_keeps_the_types() -> None:
    cfg = [ConfigDict(type="Normal", layer=["Conv2d"], override=ConfigDict(name="fc", type="Zeros"))]
    copied = copy_init_cfg(cfg, "init_cfg of root")
    assert copied == cfg and copied is not cfg
    assert type(copied[0]) is ConfigDict and type(copied[0]["override"]) is ConfigDict
    copied[0]["layer"].append("Linear")
    assert cfg[0]["layer"] == ["Conv2d"]
    assert copy_init_cfg(None) is None


def test_copy_init_cfg_keeps_shared_values_shared_as_deepcopy_does() -> None:
    shared = dict(type="Constant", val=1)
    a, b = copy_init_cfg([shared, shared])
    assert a is b and a is not shared


@pytest.mark.parametrize(
    ("make", "match"),
    [(lambda: deep(3000), "nested more than 64 levels deep"),
     (lambda: (lambda c: (c.append(c), c)[1])([GOOD]), "refers to itself")],
    ids=["deep", "self"],
)
def test_copy_init_cfg_refuses_what_deepcopy_dies_on_with_a_config_value_error(make: Any, match: str) -> None:
    with pytest.raises(ConfigValueError, match=match):
        copy_init_cfg(make(), "init_cfg of backbone (ResNet)")


def test_copy_init_cfg_names_a_value_that_cannot_be_copied() -> None:
    with pytest.raises(ConfigTypeError, match=r"init_cfg of head: a value in it cannot be copied: .*generator") as info:
        copy_init_cfg(dict(type="Normal", extra=(i for i in range(3))), "init_cfg of head")
    assert isinstance(info.value.__cause__, TypeError)


def test_configs_of_equal_content_parse_once_per_plan_each_keeping_where_it_came_from() -> None:
    memo: dict = {}
    cfg = [dict(type="Kaiming", mode="fan_out", override=dict(name="conv")), dict(type="Constant", val=1, layer="BN")]
    a = parse_init_cfg_once(cfg, "default_init_cfg of a (ConvModule)", memo)
    b = parse_init_cfg_once(copy_init_cfg(cfg), "default_init_cfg of b (ConvModule)", memo)
    assert b[0].init is a[0].init and b[0].overrides[0].rule.init is a[0].overrides[0].rule.init
    assert b == parse_init_cfg(cfg, "default_init_cfg of b (ConvModule)")
    assert [b[0].where, b[0].overrides[0].rule.where, b[1].where] == [
        "default_init_cfg of b (ConvModule)[0]", "default_init_cfg of b (ConvModule)[0] override",
        "default_init_cfg of b (ConvModule)[1]"]


def test_configs_whose_values_differ_only_in_type_or_sign_are_different_configs() -> None:
    memo: dict = {}
    values = [parse_init_cfg_once(dict(type="Constant", val=v), "w", memo)[0].init.val for v in (1, 1.0, 0.0, -0.0)]
    assert [type(v) for v in values] == [int, float, float, float]
    assert [math.copysign(1, v) for v in values[2:]] == [1, -1]


def test_configs_holding_objects_or_initializers_that_run_code_are_parsed_every_time() -> None:
    memo: dict = {}
    for cfg in (dict(type=torchinit.Normal, std=0.1), dict(type="SkipInitWeights", layer="Linear")):
        first, again = parse_init_cfg_once(cfg, "w", memo), parse_init_cfg_once(cfg, "w", memo)
        assert first[0].init is not again[0].init
    assert not memo


def test_a_config_that_contains_itself_or_nests_too_deep_fails_the_same_on_every_parse() -> None:
    """The memo's key is computed on the config as given, before it is read: one that
    refers to itself or nests past MAX_DEPTH gets no key, and the read names the problem."""
    from torchinit._config_data import MAX_DEPTH

    looped: dict[str, Any] = dict(type="Normal", std=0.1)
    looped["layer"] = [looped]
    deep: Any = dict(type="Normal", std=0.1)
    for _ in range(MAX_DEPTH + 2):
        deep = [deep]
    memo: dict[Any, Any] = {}
    for cfg, message in ((looped, "refers to itself"), (deep, "nested more than")):
        for _ in range(2):
            with pytest.raises(ConfigValueError, match=message):
                parse_init_cfg_once(cfg, "init_cfg of a", memo)
    assert not memo


def test_a_mapping_and_a_dict_of_equal_content_share_one_parse() -> None:
    """A mapping of another type (an mmengine ConfigDict) is read into a dict first, and then
    has the key of the dict it equals, in either order; a key that is not a string gets none."""
    cfg = dict(type="Normal", std=0.1, layer="Linear")
    for order in ((PlainMapping, dict), (dict, PlainMapping)):
        memo: dict[Any, Any] = {}
        specs = [parse_init_cfg_once(kind(cfg), "w", memo) for kind in order]
        assert specs[1][0].init is specs[0][0].init
    memo = {}
    for _ in range(2):
        with pytest.raises(ConfigError):
            parse_init_cfg_once({"type": "Normal", 1: "x"}, "w", memo)
    assert not memo


def test_a_default_config_changed_between_two_runs_is_read_again() -> None:
    class Block(BaseModule):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.rules = dict(type="Constant", val=1, bias=1, layer="Linear")

        def default_init_cfg(self) -> Any:
            return self.rules

    class Pair(BaseModule):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = Block(), Block()

    model = Pair()
    model.init_weights()
    assert all(bool((p == 1).all()) for p in model.parameters())
    for block in (model.a, model.b):
        block.rules.update(val=2, bias=2)
    for m in (model, model.a, model.b):
        m.is_init = False
    model.init_weights()
    assert all(bool((p == 2).all()) for p in model.parameters())


def test_a_config_parsed_again_from_the_memo_equals_a_fresh_parse_at_its_place() -> None:
    """The memo hands out shared specs moved to their own place (``where``, override texts):
    field for field what parsing that config there gives, and the memo's own are untouched."""
    cfg = [dict(type="Kaiming", mode="fan_out", bias=0, override=[dict(name="conv"), dict(name="head", type="Normal")]),
           dict(type="Constant", val=1, layer="BatchNorm2d")]
    memo: dict[Any, Any] = {}
    first = parse_init_cfg_once(cfg, "init_cfg of a", memo)
    again = parse_init_cfg_once([dict(c) for c in cfg], "init_cfg of b", memo)
    assert again == parse_init_cfg(cfg, "init_cfg of b")
    assert [s.where for s in first] == ["init_cfg of a[0]", "init_cfg of a[1]"]
    assert [ov.rule.where for ov in again[0].overrides] == ["init_cfg of b[0] override[0]", "init_cfg of b[0] override[1]"]
    assert again[0].init is first[0].init  # shared: torchinit's frozen initializers

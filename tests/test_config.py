"""Every bad init_cfg raises a clear error of our family, and changes no weight."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from conftest import assert_unchanged, state_of
from torch import nn

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
from torchinit.config import parse_init_cfg


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

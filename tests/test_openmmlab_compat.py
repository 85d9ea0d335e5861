"""OpenMMLab code without OpenMMLab installed: classes recognized by their module path.

CI has neither mmengine nor mmcv, so these tests define stand-ins with the same module
paths and the same shape of API (written here, a few lines each). The real packages are
exercised by ``make test-openmmlab`` (tests_openmmlab/) and tools/upstream_tests.py.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import torchinit
from torchinit import InitApplyError, InitWarning, register_default_init

FAKE_MMENGINE = {
    "mmengine/__init__.py": "__version__ = '0.0.0+fake'\n",
    "mmengine/model/__init__.py": """
        from .base_module import BaseModule, ModuleList, Sequential
        from .weight_init import initialize
    """,
    "mmengine/model/base_module.py": """
        import copy
        from torch import nn
        from .weight_init import initialize

        class BaseModule(nn.Module):
            def __init__(self, init_cfg=None):
                super().__init__()
                self._is_init = False
                self.init_cfg = copy.deepcopy(init_cfg)

            @property
            def is_init(self):
                return self._is_init

            @is_init.setter
            def is_init(self, value):
                self._is_init = value

            def init_weights(self):
                raise RuntimeError('the stand-in of mmengine ran its own init_weights')

        class Sequential(BaseModule, nn.Sequential):
            def __init__(self, *args, init_cfg=None):
                BaseModule.__init__(self, init_cfg)
                nn.Sequential.__init__(self, *args)

        class ModuleList(BaseModule, nn.ModuleList):
            def __init__(self, modules=None, init_cfg=None):
                BaseModule.__init__(self, init_cfg)
                nn.ModuleList.__init__(self, modules)
    """,
    "mmengine/model/weight_init.py": """
        def initialize(module, init_cfg):
            raise RuntimeError('the stand-in of mmengine ran its own initialize')
    """,
    "mmengine/registry/__init__.py": """
        class Registry:
            def __init__(self, name, parent=None, scope='mmengine'):
                self.name, self.scope, self._module_dict, self._children = name, scope, {}, {}
                if parent is not None:
                    parent._children[scope] = self

            @property
            def module_dict(self):
                return self._module_dict

            @property
            def children(self):
                return self._children

            def register_module(self, name=None, module=None):
                def add(cls):
                    self._module_dict[name or cls.__name__] = cls
                    return cls
                return add if module is None else add(module)

        MODELS = Registry('model')
        WEIGHT_INITIALIZERS = Registry('weight initializer')
        DOWNSTREAM_MODELS = Registry('model', parent=MODELS, scope='mmdet')
    """,
}

FAKE_MMCV = {
    "mmcv/__init__.py": "",
    "mmcv/cnn/__init__.py": "from .bricks.conv_module import ConvModule\n",
    "mmcv/cnn/bricks/__init__.py": "",
    "mmcv/cnn/bricks/conv_module.py": """
        from torch import nn

        class ConvModule(nn.Module):
            def __init__(self, cin, cout, k, norm=True, act_cfg=dict(type='ReLU')):
                super().__init__()
                self.act_cfg = act_cfg
                self.with_activation = act_cfg is not None
                self.conv = nn.Conv2d(cin, cout, k, bias=not norm)
                self.with_norm = norm
                self.norm_name = 'bn' if norm else None
                if norm:
                    self.bn = nn.BatchNorm2d(cout)
                self.init_weights()

            def init_weights(self):
                nn.init.kaiming_normal_(self.conv.weight, mode='fan_out', nonlinearity='relu')
                if self.with_norm:
                    nn.init.constant_(self.bn.weight, 1)
                    nn.init.constant_(self.bn.bias, 0)
    """,
}


def write_package(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture
def fake_openmmlab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    write_package(tmp_path, {**FAKE_MMENGINE, **FAKE_MMCV})
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [n for n in sys.modules if n.split(".")[0] in ("mmengine", "mmcv")]:
        del sys.modules[name]


def full(t: torch.Tensor, value: float) -> bool:
    return torch.equal(t.detach(), torch.full_like(t, value))


class Neck(torchinit.BaseModule):
    """An FPN-like neck: mmcv ConvModules in a plain ModuleList and as a direct child."""

    def __init__(self, conv_module: type) -> None:
        super().__init__(init_cfg=dict(type="Constant", val=2, layer="Conv2d"))
        self.lateral = nn.ModuleList([conv_module(2, 2, 1) for _ in range(2)])
        self.direct = conv_module(2, 2, 1)


def test_a_rule_beats_mmcvs_conv_module_default_wherever_it_sits(fake_openmmlab: Path) -> None:
    from mmcv.cnn import ConvModule

    neck = Neck(ConvModule)
    report = neck.init_weights()
    for m in (*neck.lateral, neck.direct):
        assert full(m.conv.weight, 2)
        assert full(m.bn.weight, 1) and full(m.bn.bias, 0)  # its default fills what no rule covers
    assert report["direct.conv.weight"].source == "rule"
    assert report["direct.bn.weight"].source == "default"


def test_compat_mode_reapplies_mmcvs_default_on_direct_children_only_as_mmengine(fake_openmmlab: Path) -> None:
    from mmcv.cnn import ConvModule

    neck = Neck(ConvModule)
    report = neck.init_weights(compat="mmengine")
    assert all(full(m.conv.weight, 2) for m in neck.lateral)  # a plain ModuleList: mmengine never reaches them
    assert not full(neck.direct.conv.weight, 2)  # mmengine calls the child's init_weights after the rule
    assert report["direct.conv.weight"].describe().startswith("Kaiming(a=0, mode=fan_out, nonlinearity=relu")
    assert report["direct.conv.weight"].source == "default"


def test_a_subclass_with_its_own_init_weights_code_is_user_code_not_a_default(fake_openmmlab: Path) -> None:
    from mmcv.cnn import ConvModule

    class Custom(ConvModule):
        def init_weights(self) -> None:
            nn.init.constant_(self.conv.weight, 5)

    neck = Neck(Custom)
    report = neck.init_weights()
    assert full(neck.direct.conv.weight, 5) and report["direct.conv.weight"].source == "user"


def test_register_default_init_makes_a_layers_init_weights_lose_to_rules() -> None:
    class Stem(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 1)

        def init_weights(self) -> None:
            nn.init.constant_(self.conv.weight, -1)

    register_default_init(Stem, lambda m: dict(type="Constant", val=-1, override=dict(name="conv")))
    net = torchinit.Sequential(Stem(), Stem(), init_cfg=dict(type="Constant", val=3, layer="Conv2d",
                                                             override=dict(name="1", type="Constant", val=4)))
    net.init_weights()
    assert full(net[0].conv.weight, 3) and full(net[1].conv.weight, 4)


def test_a_default_registered_by_the_user_first_does_not_hide_mmcvs(
    fake_openmmlab: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmcv.cnn import ConvModule

    import torchinit._default_rules as defaults_mod

    monkeypatch.setattr(defaults_mod, "_DEFAULT_INITS", {})  # as in a fresh process: nothing loaded yet
    monkeypatch.setattr(defaults_mod, "_BUILTIN_DEFAULTS", [])
    defaults_mod.registered_default.cache_clear()
    try:
        register_default_init("my_lib.Stem", lambda m: None)  # before anything was planned
        neck = Neck(ConvModule)
        report = neck.init_weights()
    finally:  # look-ups cached under the patched tables must not outlive them
        defaults_mod.registered_default.cache_clear()
    assert report["direct.bn.weight"].source == "default" and full(neck.direct.conv.weight, 2)


# --------------------------------------------------------------------------- mmengine's BaseModule
def mm_model() -> nn.Module:
    from mmengine.model import BaseModule, Sequential

    class Backbone(BaseModule):
        def __init__(self) -> None:
            super().__init__(init_cfg=dict(type="Constant", val=3, layer="Conv2d"))
            self.conv = nn.Conv2d(2, 2, 1)

    class Head(BaseModule):
        def __init__(self, fail: bool = False) -> None:
            super().__init__(init_cfg=dict(type="Constant", val=4, layer="Linear"))
            self.fc = nn.Linear(2, 2)
            self.fail = fail

        def init_weights(self) -> None:
            super().init_weights()
            nn.init.zeros_(self.fc.bias)
            if self.fail:
                raise ValueError("head failed")

    class Detector(BaseModule):
        def __init__(self, fail: bool = False) -> None:
            super().__init__()
            self.backbone = Backbone()
            self.head = Sequential(Head(fail))

    return Detector


def test_plan_honours_init_cfg_of_mmengine_modules_without_adoption(fake_openmmlab: Path) -> None:
    detector = mm_model()()
    report = torchinit.plan(detector)
    assert report["backbone.conv.weight"].describe().startswith("Constant(val=3)")
    assert report["head.0.fc.weight"].source == "user"  # left to Head's own init_weights code


def test_a_torchinit_run_applies_mmengine_modules_init_cfg_without_adoption(fake_openmmlab: Path) -> None:
    from mmengine.model import BaseModule

    class Plain(BaseModule):
        def __init__(self) -> None:
            super().__init__(init_cfg=dict(type="Constant", val=6, layer="Linear"))
            self.fc = nn.Linear(2, 2)

    net = torchinit.Sequential(Plain())
    net.init_weights()
    assert full(net[0].fc.weight, 6)


def test_adoption_routes_mmengine_init_weights_through_torchinit_and_undo_restores_it(fake_openmmlab: Path) -> None:
    import mmengine.model
    from mmengine.model import BaseModule

    original = BaseModule.__dict__["init_weights"]
    detector_cls = mm_model()  # defined before adoption
    adoption = torchinit.adopt_mmengine()
    try:
        assert torchinit.adopt_mmengine() is adoption
        assert "mmengine.model.BaseModule.init_weights" in adoption.patched
        detector = detector_cls()
        report = detector.init_weights(seed=0)
        assert full(detector.backbone.conv.weight, 3) and full(detector.head[0].fc.weight, 4)
        assert full(detector.head[0].fc.bias, 0)
        assert report["backbone.conv.weight"].source == "rule"
        assert detector.is_init and detector.backbone.is_init
        with pytest.warns(InitWarning, match="more than once"):
            assert detector.init_weights() is None
        assert mmengine.model.initialize is not None
        net = nn.Sequential(nn.Linear(2, 2))
        mmengine.model.initialize(net, dict(type="Constant", val=1, layer="Linear"))
        assert full(net[0].weight, 1)
    finally:
        adoption.undo()
    assert BaseModule.__dict__["init_weights"] is original
    with pytest.raises(RuntimeError, match="stand-in of mmengine"):
        detector_cls().init_weights()


def test_adopted_user_code_that_fails_leaves_the_model_unchanged(fake_openmmlab: Path) -> None:
    adoption = torchinit.adopt_mmengine()
    try:
        detector = mm_model()(fail=True)
        before = {k: v.clone() for k, v in detector.state_dict().items()}
        with pytest.raises(InitApplyError, match="head failed"):
            detector.init_weights()
        assert all(torch.equal(v, before[k]) for k, v in detector.state_dict().items())
        assert not detector.is_init and not detector.backbone.is_init
        head = detector.head[0]
        with pytest.raises(ValueError, match="head failed"):  # called directly: atomic as well
            head.init_weights()
        assert torch.equal(head.fc.weight, before["head.0.fc.weight"]) and not head.is_init
    finally:
        adoption.undo()


def test_adoption_finds_initializers_and_models_registered_in_mmengines_registries(fake_openmmlab: Path) -> None:
    from mmengine.registry import DOWNSTREAM_MODELS, WEIGHT_INITIALIZERS

    class FillWithSeven:
        def __init__(self, *, bias: float = 0, layer: Any = None) -> None:
            self.bias, self.layer, self.wholemodule = bias, [layer] if isinstance(layer, str) else layer or [], False

        def __call__(self, module: nn.Module) -> None:
            for m in module.modules():
                if type(m).__name__ in self.layer:
                    nn.init.constant_(m.weight, 7)

    WEIGHT_INITIALIZERS.register_module(module=FillWithSeven)
    DOWNSTREAM_MODELS.register_module(name="Conv2dLike", module=nn.Conv2d)
    model = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(KeyError, match="FillWithSeven"):
        torchinit.initialize(model, dict(type="FillWithSeven", layer="Linear"))
    adoption = torchinit.adopt_mmengine()
    try:
        report = torchinit.initialize(model, dict(type="FillWithSeven", layer="Linear"))
        assert full(model[0].weight, 7) and report["0.weight"].initializer == "FillWithSeven"
        conv = torchinit.build_conv_layer(dict(type="Conv2dLike"), 2, 2, 1)
        assert isinstance(conv, nn.Conv2d)
        assert torchinit.MODELS.get("mmdet.Conv2dLike") is nn.Conv2d
    finally:
        adoption.undo()
    with pytest.raises(KeyError):
        torchinit.MODELS.get("Conv2dLike")


def test_adoption_without_mmengine_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mmengine", None)
    with pytest.raises(ImportError, match="pip install mmengine-lite"):
        torchinit.adopt_mmengine()


# --------------------------------------------------------------------------- mmengine's initializer objects
def test_mmengine_initializer_objects_are_callable_on_a_module() -> None:
    model = nn.Sequential(nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2), nn.Linear(2, 2))
    torchinit.XavierInit(layer="Conv2d", bias=0.1)(model)
    assert full(model[0].bias, 0.1)
    init = torchinit.ConstantInit(val=3, bias_prob=0.01, layer=["Linear"])
    init(model)
    assert full(model[2].weight, 3) and torch.allclose(model[2].bias, torch.full((2,), -4.59511985013459))
    whole = torchinit.ConstantInit(val=5)
    whole.wholemodule = True
    whole(model[1])
    assert full(model[1].weight, 5) and full(model[1].bias, 0)


def test_initializers_build_returns_mmengine_objects_and_registering_there_reaches_configs() -> None:
    obj = torchinit.INITIALIZERS.build(dict(type="Kaiming", layer="Conv2d", mode="fan_in"))
    assert isinstance(obj, torchinit.KaimingInit) and obj.mode == "fan_in" and obj.layer == ["Conv2d"]
    other = torchinit.INITIALIZERS.build(dict(type="Orthogonal", layer="Linear"))
    assert isinstance(other, torchinit.FillInitObject)
    with pytest.raises(TypeError, match="gian"):
        torchinit.INITIALIZERS.build(dict(type="Xavier", gian=1))

    @torchinit.INITIALIZERS.register_module(name="Halve", force=True)
    class Halve(torchinit.BaseInit):
        def __call__(self, module: nn.Module) -> None:
            for m in module.modules():
                if type(m).__name__ in self.layer:
                    with torch.no_grad():
                        m.weight.mul_(0.5)
            torchinit.update_init_info(module, "Halve: weight * 0.5")

    model = nn.Sequential(nn.Linear(2, 2))
    with torch.no_grad():
        model[0].weight.fill_(4)
    report = torchinit.initialize(model, dict(type="Halve", layer="Linear"))
    assert full(model[0].weight, 2) and report["0.weight"].initializer == "Halve: weight * 0.5"

"""Finding the state dict in a checkpoint and renaming its keys: EMA layouts, collisions,
mmengine's exact layout rule (``compat=True``) and checkpoints that are not dicts."""

from __future__ import annotations

import pytest
import torch
from _checkpoint_helpers import (
    Classifier,
    assert_refused,
    assert_same_weights,
    isolate_home,
    trained,
)
from conftest import assert_unchanged, state_of

from torchinit import load_checkpoint, load_state_dict
from torchinit.checkpoint._state_dict import get_state_dict, rename_keys
from torchinit.errors import (
    CheckpointFormatError,
    CheckpointKeyCollisionError,
    CheckpointNotDictError,
    CheckpointPrefixError,
)


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    return isolate_home(tmp_path, monkeypatch)


# --------------------------------------------------------------------------- collisions
@pytest.mark.parametrize("layout", ["ema_state_dict", "state_dict_ema", "model_ema"])
def test_an_ema_checkpoint_holding_module_x_and_x_is_a_collision_naming_both(tmp_path, layout):
    ema = trained(seed=2).state_dict()
    averaged = {f"module.{k}": v for k, v in ema.items()} | {"head.bias": ema["head.bias"] + 1}
    path = tmp_path / "ema.pth"
    torch.save({"state_dict": trained().state_dict(), layout: averaged}, path)
    assert_refused(
        path, CheckpointKeyCollisionError, "'module.head.bias'", "'head.bias'", "both become", use_ema=True
    )


def test_a_collision_is_an_error_whatever_layout_the_keys_come_from(tmp_path):
    state = trained().state_dict()
    path = tmp_path / "plain.pth"
    torch.save(
        {"model": {"module.head.weight": state["head.weight"], "head.weight": state["head.weight"]}}, path
    )
    assert_refused(path, CheckpointKeyCollisionError, "'head.weight'", "'module.head.weight'")


def test_mmengines_ema_layout_without_collisions_still_loads_its_weights(tmp_path):
    ema = trained(seed=2)
    averaged = {f"module.{k}": v for k, v in ema.state_dict().items()} | {"steps": torch.tensor(3)}
    path = tmp_path / "ema.pth"
    torch.save({"ema_state_dict": averaged}, path)
    model = Classifier()
    load_checkpoint(model, path, strict=True)
    assert_same_weights(model, ema)


def test_keys_that_are_not_strings_are_a_format_error():
    with pytest.raises(CheckpointFormatError, match="keys must be strings"):
        rename_keys([1], (), None, "ckpt")
    with pytest.raises(CheckpointFormatError, match="keys must be strings"):
        get_state_dict({"ema_state_dict": {1: torch.ones(1)}}, use_ema=True)


# --------------------------------------------------------------------------- not a dict
@pytest.mark.parametrize(
    "payload", [[torch.ones(1)], torch.ones(3), (torch.ones(1),)], ids=["list", "tensor", "tuple"]
)
def test_a_checkpoint_that_is_not_a_dict_is_also_a_runtime_error_as_in_mmengine(tmp_path, payload):
    path = tmp_path / "odd.pth"
    torch.save(payload, path)
    assert_refused(path, CheckpointNotDictError, str(path), type(payload).__name__, "load_state_dict")
    for compat in (False, True):
        with pytest.raises(RuntimeError) as info:
            get_state_dict(payload, source=str(path), compat=compat)
        assert isinstance(info.value, CheckpointFormatError)


# --------------------------------------------------------------------------- mmengine's layout rule
def test_compat_unwraps_only_a_state_dict_entry():
    sd = trained().state_dict()
    assert get_state_dict({"state_dict": sd, "model": {}}, compat=True) is sd
    as_model = {"model": sd}
    assert get_state_dict(as_model, compat=True) is as_model  # 'model' is a key of the state dict
    assert get_state_dict({}, compat=True) == {}
    assert get_state_dict(as_model) is sd  # the default still finds it


def test_compat_loads_nothing_from_a_model_entry_reporting_model_as_unexpected():
    sd = trained().state_dict()
    model = Classifier()
    before = state_of(model)
    result = load_state_dict(model, get_state_dict({"model": sd}, compat=True))
    assert result.loaded == () and result.unexpected == ("model",)
    assert set(result.missing) == {k for k in sd if not k.endswith("num_batches_tracked")}
    assert_unchanged(model, before)


def test_compat_loads_nothing_from_an_empty_checkpoint_without_error():
    model = Classifier()
    before = state_of(model)
    result = load_state_dict(model, get_state_dict({}, compat=True))
    assert result.loaded == () and result.unexpected == () and len(result.missing) == 8
    assert_unchanged(model, before)
    with pytest.raises(CheckpointFormatError, match="no state dict"):
        get_state_dict({})  # the default mode says what is wrong


def test_compat_still_honours_use_ema_and_a_prefix():
    plain, ema = trained(seed=1).state_dict(), trained(seed=2).state_dict()
    assert get_state_dict({"state_dict": plain, "state_dict_ema": ema}, use_ema=True, compat=True) is ema
    with pytest.raises(CheckpointPrefixError):
        rename_keys(get_state_dict({}, compat=True).keys(), (), "backbone", "ckpt")


def test_compat_refuses_a_state_dict_entry_that_is_no_dict():
    with pytest.raises(CheckpointFormatError, match="'state_dict' entry is a int"):
        get_state_dict({"state_dict": 3}, compat=True)

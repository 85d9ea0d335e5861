"""Loading pretrained weights from local files: sources, layouts, key mapping, safety, faults.

Every fault asserts the exception class, the builtin it also is, and that the model is
bit-identical to before. Downloads are in test_download.py, model-zoo names in
test_model_zoo.py.
"""

from __future__ import annotations

import logging
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from _checkpoint_helpers import Backbone, Classifier, Meta, Payload, assert_same_weights, trained
from conftest import assert_unchanged, state_of
from torch import nn

import torchinit
from torchinit import (
    CheckpointCorruptError,
    CheckpointError,
    CheckpointFormatError,
    CheckpointKeyCollisionError,
    CheckpointNotFoundError,
    CheckpointPrefixError,
    CheckpointStrictError,
    CheckpointThresholdError,
    CheckpointUnsafeError,
    ConfigTypeError,
    ConfigValueError,
    LoadResult,
    Pretrained,
    RegistryError,
    UnknownSchemeError,
    load_checkpoint,
    load_state_dict,
    read_checkpoint,
    register_scheme,
)
from torchinit.checkpoint import _serialization, _sources
from torchinit.pretrained import plan_pretrained


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHINIT_HOME", str(tmp_path / "home"))


@pytest.fixture
def ckpt(tmp_path):
    """Save an object with torch.save under tmp_path and return the path."""

    def save(obj, name: str = "model.pth", **kwargs) -> Path:
        path = tmp_path / name
        torch.save(obj, path, **kwargs)
        return path

    return save


@pytest.fixture
def scheme_registry():
    """Restore the scheme table after a test that registers one."""
    saved = dict(_sources._SCHEMES)
    yield
    _sources._SCHEMES.clear()
    _sources._SCHEMES.update(saved)


# --------------------------------------------------------------------------- sources
def test_a_local_path_given_as_str_loads_every_tensor(ckpt):
    source = trained()
    path = ckpt(source.state_dict())
    model = Classifier()
    result = load_state_dict(model, read_checkpoint(str(path)))
    assert_same_weights(model, source)
    assert result.complete and result.loaded_fraction == 1.0


def test_a_path_object_and_a_file_url_load_the_same_file(ckpt):
    source = trained()
    path = ckpt({"state_dict": source.state_dict()})
    for filename in (path, path.as_uri()):
        model = Classifier()
        load_checkpoint(model, filename)
        assert_same_weights(model, source)


def test_a_home_relative_path_is_expanded(ckpt, monkeypatch, tmp_path):
    source = trained()
    ckpt(source.state_dict(), "weights.pth")
    monkeypatch.setenv("HOME", str(tmp_path))
    model = Classifier()
    load_checkpoint(model, "~/weights.pth")
    assert_same_weights(model, source)


def test_load_checkpoint_returns_the_whole_checkpoint(ckpt):
    source = trained()
    path = ckpt({"state_dict": source.state_dict(), "meta": {"epoch": 12}})
    checkpoint = load_checkpoint(Classifier(), path)
    assert checkpoint["meta"] == {"epoch": 12}
    assert set(checkpoint["state_dict"]) == set(source.state_dict())


def test_safetensors_files_load_through_safetensors(tmp_path):
    source = trained()
    path = tmp_path / "model.safetensors"
    safetensors.torch.save_file(source.state_dict(), path)
    model = Classifier()
    checkpoint = load_checkpoint(model, path)
    assert_same_weights(model, source)
    assert isinstance(checkpoint, dict) and set(checkpoint) == set(source.state_dict())


def test_a_safetensors_file_is_recognized_by_its_header_whatever_its_name(tmp_path):
    source = trained()
    path = tmp_path / "model.bin"
    safetensors.torch.save_file(source.state_dict(), path)
    model = Classifier()
    load_checkpoint(model, path)
    assert_same_weights(model, source)


def test_safetensors_under_a_prefix_reads_only_the_tensors_it_loads(tmp_path, monkeypatch):
    source = trained()
    state = {f"backbone.{k}": v for k, v in source.backbone.state_dict().items()}
    state |= {"head.weight": torch.zeros(1000, 4), "head.bias": torch.zeros(1000)}
    state["backbone.conv.bias"] = torch.zeros(99)  # shape-mismatched: must not be read either
    path = tmp_path / "model.safetensors"
    safetensors.torch.save_file(state, path)
    read: list[str] = []
    original = _serialization.SafetensorsStateDict.__getitem__

    def spy(self, key):
        read.append(key)
        return original(self, key)

    monkeypatch.setattr(_serialization.SafetensorsStateDict, "__getitem__", spy)
    backbone = Backbone()
    plan = plan_pretrained(Pretrained(checkpoint=path, prefix="backbone"), backbone)
    expected = sorted(f"backbone.{k}" for k in backbone.state_dict() if k != "conv.bias")
    assert sorted(read) == expected
    assert [m[0] for m in plan.result.mismatched] == ["conv.bias"]
    assert torch.equal(plan.tensors["conv.weight"], source.backbone.conv.weight)


def test_legacy_non_zip_checkpoints_load(ckpt):
    source = trained()
    path = ckpt(source.state_dict(), _use_new_zipfile_serialization=False)
    model = Classifier()
    load_checkpoint(model, path)
    assert_same_weights(model, source)


def test_map_location_puts_the_tensors_on_that_device(ckpt):
    path = ckpt(trained().state_dict())
    checkpoint = read_checkpoint(path, map_location="cpu")
    assert all(t.device.type == "cpu" for t in checkpoint.values())


# --------------------------------------------------------------------------- layouts
@pytest.mark.parametrize(
    "layout",
    [
        lambda sd: sd,
        lambda sd: {"state_dict": sd, "meta": {"epoch": 1}},
        lambda sd: {"model": sd, "optimizer": {}},
        lambda sd: {"state_dict": sd, "state_dict_ema": {k: torch.zeros_like(v) for k, v in sd.items()}},
        lambda sd: OrderedDict(sd),
    ],
    ids=["bare", "state_dict", "model", "plain-beside-ema", "ordered-dict"],
)
def test_every_common_layout_loads_its_plain_weights(ckpt, layout):
    source = trained()
    path = ckpt(layout(source.state_dict()))
    model = Classifier()
    load_checkpoint(model, path)
    assert_same_weights(model, source)


@pytest.mark.parametrize("key", ["state_dict_ema", "model_ema"])
def test_use_ema_loads_the_ema_weights(ckpt, key):
    plain, ema = trained(seed=1), trained(seed=2)
    path = ckpt({"state_dict": plain.state_dict(), key: ema.state_dict()})
    model = Classifier()
    load_checkpoint(model, path, use_ema=True)
    assert_same_weights(model, ema)
    model = Classifier(init_cfg=dict(type="Pretrained", checkpoint=str(path), use_ema=True))
    model.init_weights()
    assert_same_weights(model, ema)


def test_mmengine_ema_state_dict_drops_its_module_prefix_and_step_counter(ckpt):
    plain, ema = trained(seed=1), trained(seed=2)
    averaged = {f"module.{k}": v for k, v in ema.state_dict().items()} | {"steps": torch.tensor(100)}
    path = ckpt({"state_dict": plain.state_dict(), "ema_state_dict": averaged})
    model = Classifier()
    load_checkpoint(model, path, use_ema=True, strict=True)
    assert_same_weights(model, ema)


def test_a_checkpoint_holding_only_ema_weights_loads_them(ckpt):
    ema = trained(seed=2)
    path = ckpt({"state_dict_ema": ema.state_dict(), "epoch": 3})
    model = Classifier()
    load_checkpoint(model, path)
    assert_same_weights(model, ema)


def test_use_ema_without_ema_weights_is_a_format_error(ckpt):
    path = ckpt({"state_dict": trained().state_dict()})
    model = Classifier()
    before = state_of(model)
    with pytest.raises(CheckpointFormatError, match="no EMA weights") as info:
        load_checkpoint(model, path, use_ema=True)
    assert isinstance(info.value, ValueError)
    assert "state_dict" in str(info.value)
    assert_unchanged(model, before)


@pytest.mark.parametrize(
    "payload, words",
    [
        ({"epoch": 3, "optimizer": {"lr": 0.1}}, "top-level keys are: epoch, optimizer"),
        ([torch.ones(1)], "holds a list"),
        ({}, "no state dict"),
    ],
    ids=["no-tensors", "a-list", "empty"],
)
def test_a_checkpoint_without_a_state_dict_is_a_format_error(ckpt, payload, words):
    path = ckpt(payload)
    model = Classifier()
    before = state_of(model)
    with pytest.raises(CheckpointFormatError, match=words):
        load_checkpoint(model, path)
    assert_unchanged(model, before)


# --------------------------------------------------------------------------- keys
def test_a_prefix_loads_the_keys_under_it_with_the_prefix_stripped(ckpt):
    source = trained()
    path = ckpt({"state_dict": source.state_dict()})
    for prefix in ("backbone", "backbone."):
        backbone = Backbone()
        load_checkpoint(backbone, path, prefix=prefix, strict=True)
        assert_same_weights(backbone, source, prefix="backbone.")


def test_a_prefix_matching_nothing_lists_the_prefixes_the_checkpoint_has(ckpt):
    path = ckpt({"state_dict": trained().state_dict()})
    model = Backbone()
    before = state_of(model)
    with pytest.raises(CheckpointPrefixError) as info:
        load_checkpoint(model, path, prefix="backbon")
    assert isinstance(info.value, KeyError)
    assert "backbone, head" in str(info.value) and "Did you mean 'backbone'" in str(info.value)
    assert_unchanged(model, before)


def test_the_default_revise_keys_strip_dataparallels_module_prefix(ckpt):
    source = trained()
    path = ckpt({f"module.{k}": v for k, v in source.state_dict().items()})
    model = Classifier()
    load_checkpoint(model, path, strict=True)
    assert_same_weights(model, source)


def test_revise_keys_apply_in_order_before_the_prefix(ckpt):
    source = trained()
    renamed = {k.replace("backbone.", "encoder.layers."): v for k, v in source.state_dict().items()}
    path = ckpt(renamed)
    backbone = Backbone()
    # The second pattern only matches what the first one produced.
    revise = [(r"^encoder\.layers\.", "enc."), (r"^enc\.", "backbone.")]
    load_checkpoint(backbone, path, revise_keys=revise, prefix="backbone", strict=True)
    assert_same_weights(backbone, source, prefix="backbone.")
    init = Pretrained(checkpoint=path, revise_keys=revise, prefix="backbone")
    assert plan_pretrained(init, Backbone()).result.complete


def test_two_keys_that_collide_after_revise_keys_are_an_error(ckpt):
    state = trained().state_dict()
    path = ckpt(state | {"module.head.bias": state["head.bias"] + 1})
    model = Classifier()
    before = state_of(model)
    with pytest.raises(CheckpointKeyCollisionError, match="'head.bias' and 'module.head.bias'") as info:
        load_checkpoint(model, path)
    assert isinstance(info.value, ValueError)
    assert_unchanged(model, before)


@pytest.mark.parametrize(
    "revise, error",
    [
        ("^a", ConfigTypeError),
        ([("^a",)], ConfigTypeError),
        ([(1, "")], ConfigTypeError),
        ([("(", "")], ConfigValueError),
    ],
    ids=["a-string", "a-single", "not-a-string", "bad-regex"],
)
def test_malformed_revise_keys_are_config_errors(ckpt, revise, error):
    path = ckpt(trained().state_dict())
    model = Classifier()
    before = state_of(model)
    with pytest.raises(error):
        load_checkpoint(model, path, revise_keys=revise)
    with pytest.raises(error, match="Pretrained: "):
        Pretrained(checkpoint=path, revise_keys=revise)
    assert_unchanged(model, before)


# --------------------------------------------------------------------------- results
def test_the_load_result_lists_loaded_missing_unexpected_and_mismatched_keys(ckpt):
    source = trained(num_classes=1000)
    state = source.state_dict()
    del state["backbone.bn.running_var"], state["backbone.bn.num_batches_tracked"]
    state["extra.weight"] = torch.ones(3)
    path = ckpt(state)
    model = Classifier(num_classes=10)
    before = state_of(model)
    result = load_state_dict(model, read_checkpoint(path))
    assert result.loaded == (
        "backbone.conv.weight",
        "backbone.conv.bias",
        "backbone.bn.weight",
        "backbone.bn.bias",
        "backbone.bn.running_mean",
    )
    assert result.missing == ("backbone.bn.running_var",)  # num_batches_tracked is not reported
    assert result.unexpected == ("extra.weight",)
    assert result.mismatched == (("head.weight", (1000, 4), (10, 4)), ("head.bias", (1000,), (10,)))
    assert result.missing_keys == ["backbone.bn.running_var"] and result.unexpected_keys == ["extra.weight"]
    assert not result.complete
    n_params = sum(p.numel() for p in model.parameters())
    assert result.loaded_fraction == pytest.approx((108 + 4 + 4 + 4) / n_params)
    assert torch.equal(model.head.weight, before["head.weight"])  # mismatched: not copied
    assert torch.equal(model.backbone.bn.running_var, before["backbone.bn.running_var"])


def test_the_summary_is_one_line_and_is_logged_once(ckpt, caplog):
    path = ckpt(trained(num_classes=1000).state_dict())
    with caplog.at_level(logging.INFO, logger="torchinit"):
        load_checkpoint(Classifier(), path)
    records = [r for r in caplog.records if r.name == "torchinit"]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    line = records[0].getMessage()
    assert "\n" not in line
    assert "loaded 7/9 tensors" in line and "head.weight (1000, 4) in checkpoint vs (10, 4) in model" in line


def test_a_complete_load_logs_at_info(ckpt, caplog):
    path = ckpt(trained().state_dict())
    with caplog.at_level(logging.INFO, logger="torchinit"):
        load_checkpoint(Classifier(), path)
    assert [r.levelno for r in caplog.records if r.name == "torchinit"] == [logging.INFO]


def test_logger_follows_mmengines_conventions(ckpt, caplog):
    path = ckpt(trained().state_dict())
    mine = logging.getLogger("my.training")
    with caplog.at_level(logging.INFO):
        load_checkpoint(Classifier(), path, logger="silent")
        assert not caplog.records
        load_checkpoint(Classifier(), path, logger=mine)
        load_checkpoint(Classifier(), path, logger="current")
    assert [r.name for r in caplog.records] == ["my.training", "torchinit"]
    with pytest.raises(ConfigTypeError, match="logger must be"):
        load_checkpoint(Classifier(), path, logger=3)


def test_strict_raises_with_every_problem_and_changes_nothing(ckpt):
    state = trained(num_classes=1000).state_dict()
    state["extra.weight"] = torch.ones(1)
    del state["backbone.bn.bias"]
    path = ckpt(state)
    model = Classifier()
    before = state_of(model)
    with pytest.raises(CheckpointStrictError) as info:
        load_checkpoint(model, path, strict=True)
    assert isinstance(info.value, RuntimeError)
    text = str(info.value)
    for word in (
        "backbone.bn.bias",
        "extra.weight",
        "head.weight: (1000, 4) in checkpoint, (10, 4) in model",
    ):
        assert word in text
    assert_unchanged(model, before)


def test_a_strict_load_that_fits_passes(ckpt):
    source = trained()
    model = Classifier()
    load_checkpoint(model, ckpt(source.state_dict()), strict=True)
    assert_same_weights(model, source)


def test_min_loaded_turns_a_backbone_that_did_not_load_into_an_error(ckpt):
    state = {f"encoder.{k}": v for k, v in trained().state_dict().items()}  # wrong names: nothing fits
    path = ckpt(state)
    model = Classifier()
    before = state_of(model)
    with pytest.raises(CheckpointThresholdError, match="only 0.0% of the model's parameters") as info:
        load_checkpoint(model, path, min_loaded=0.5)
    assert isinstance(info.value, RuntimeError)
    assert_unchanged(model, before)
    with pytest.raises(CheckpointThresholdError):
        Classifier(init_cfg=dict(type="Pretrained", checkpoint=str(path), min_loaded=0.5)).init_weights()


def test_min_loaded_passes_when_enough_was_loaded(ckpt):
    path = ckpt(trained(num_classes=1000).state_dict())
    plan = plan_pretrained(Pretrained(checkpoint=path, min_loaded=0.7), Classifier())
    assert plan.result.loaded_fraction > 0.7


def test_loading_into_a_dataparallel_wrapper_loads_the_inner_model(ckpt):
    source = trained()
    model = Classifier()
    load_checkpoint(nn.DataParallel(model), ckpt(source.state_dict()))
    assert_same_weights(model, source)


def test_load_state_dict_materializes_a_meta_device_model():
    source = trained()
    with torch.device("meta"):
        model = Classifier()
    result = load_state_dict(model, source.state_dict(), strict=True)
    assert result.complete
    assert all(t.device.type == "cpu" for t in model.state_dict().values())
    assert isinstance(model.head.weight, nn.Parameter) and model.head.weight.requires_grad
    assert_same_weights(model, source)


def test_load_state_dict_casts_to_the_models_dtype():
    source = trained().half()
    model = Classifier()
    load_state_dict(model, source.state_dict())
    assert model.head.weight.dtype == torch.float32
    assert torch.equal(model.head.weight, source.head.weight.float())


# --------------------------------------------------------------------------- never run foreign code
@pytest.mark.parametrize("zipfile", [True, False], ids=["zip", "legacy"])
def test_a_checkpoint_that_would_run_code_is_refused_and_names_the_opt_in(ckpt, tmp_path, zipfile):
    marker = tmp_path / "pwned"
    path = ckpt(
        {"state_dict": trained().state_dict(), "x": Payload(marker)}, _use_new_zipfile_serialization=zipfile
    )
    model = Classifier()
    before = state_of(model)
    with pytest.raises(CheckpointUnsafeError) as info:
        load_checkpoint(model, path)
    assert isinstance(info.value, RuntimeError)
    assert "allow_pickle=True" in str(info.value) and "exec" in str(info.value)
    with pytest.raises(CheckpointUnsafeError):
        Classifier(init_cfg=dict(type="Pretrained", checkpoint=str(path))).init_weights()
    assert not marker.exists()
    assert_unchanged(model, before)


def test_a_plain_pickle_file_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"w": Payload(marker)}, protocol=2))
    with pytest.raises(CheckpointUnsafeError):
        read_checkpoint(path)
    assert not marker.exists()


def test_no_environment_variable_turns_pickle_execution_back_on(ckpt, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    path = ckpt({"x": Payload(marker)})
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(CheckpointUnsafeError):
        read_checkpoint(path)
    assert not marker.exists()


def test_numpy_scalars_and_arrays_in_the_metadata_still_load(ckpt):
    source = trained()
    meta = {"acc": np.float64(0.75), "step": np.int64(3), "hist": np.arange(4), "dtype": np.dtype("float32")}
    path = ckpt({"state_dict": source.state_dict(), "meta": meta})
    model = Classifier()
    checkpoint = load_checkpoint(model, path)
    assert checkpoint["meta"]["acc"] == 0.75 and checkpoint["meta"]["hist"].tolist() == [0, 1, 2, 3]
    assert_same_weights(model, source)


def test_a_whole_pickled_model_needs_allow_pickle_and_then_loads(ckpt):
    source = trained()
    path = ckpt(source)
    with pytest.raises(CheckpointUnsafeError, match="Classifier"):
        read_checkpoint(path)
    model = Classifier()
    load_checkpoint(model, path, allow_pickle=True, strict=True)
    assert_same_weights(model, source)


def test_allow_pickle_is_the_explicit_opt_in_for_trusted_files(ckpt):
    source = trained()
    path = ckpt({"state_dict": source.state_dict(), "meta": Meta()})
    with pytest.raises(CheckpointUnsafeError, match="Meta"):
        read_checkpoint(path)
    model = Classifier()
    checkpoint = load_checkpoint(model, path, allow_pickle=True)
    assert checkpoint["meta"].epoch == 3
    assert_same_weights(model, source)
    model = Classifier(init_cfg=dict(type="Pretrained", checkpoint=str(path), allow_pickle=True))
    model.init_weights()
    assert_same_weights(model, source)


# --------------------------------------------------------------------------- damaged files
def _damaged(tmp_path: Path, kind: str) -> Path:
    source = trained().state_dict()
    path = tmp_path / f"{kind}.pth"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "html":
        path.write_text("<!DOCTYPE html><html><body>404 Not Found</body></html>")
    elif kind == "garbage":
        path.write_bytes(bytes(range(256)) * 8)
    elif kind in ("truncated-zip", "truncated-legacy"):
        torch.save(source, path, _use_new_zipfile_serialization=kind == "truncated-zip")
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "truncated-safetensors":
        path = tmp_path / "model.safetensors"
        safetensors.torch.save_file(source, path)
        path.write_bytes(path.read_bytes()[:-16])
    elif kind == "bad-safetensors-header":
        path = tmp_path / "model.safetensors"
        path.write_bytes((40).to_bytes(8, "little") + b"{not json" + b" " * 64)
    return path


@pytest.mark.parametrize(
    "kind",
    [
        "empty",
        "html",
        "garbage",
        "truncated-zip",
        "truncated-legacy",
        "truncated-safetensors",
        "bad-safetensors-header",
    ],
)
def test_a_damaged_file_is_a_corrupt_error_and_changes_nothing(tmp_path, kind):
    path = _damaged(tmp_path, kind)
    model = Classifier(init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    before = state_of(model)
    with pytest.raises(CheckpointCorruptError) as info:
        load_checkpoint(model, path)
    assert isinstance(info.value, ValueError) and str(path) in str(info.value)
    with pytest.raises(CheckpointCorruptError):
        model.init_weights()
    assert not model.is_init
    assert_unchanged(model, before)


def test_an_html_page_saved_as_a_checkpoint_says_so(tmp_path):
    with pytest.raises(CheckpointCorruptError, match="HTML page"):
        read_checkpoint(_damaged(tmp_path, "html"))


@pytest.mark.parametrize("where", ["missing.pth", "."], ids=["missing", "a-directory"])
def test_a_path_that_is_no_file_is_not_found(tmp_path, where):
    model = Classifier()
    before = state_of(model)
    with pytest.raises(CheckpointNotFoundError) as info:
        load_checkpoint(model, tmp_path / where)
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(FileNotFoundError):
        Classifier(init_cfg=dict(type="Pretrained", checkpoint=str(tmp_path / where))).init_weights()
    assert_unchanged(model, before)


def test_every_failure_is_a_checkpoint_error():
    for name in dir(torchinit):
        obj = getattr(torchinit, name)
        if isinstance(obj, type) and name.startswith("Checkpoint"):
            assert issubclass(obj, CheckpointError)


# --------------------------------------------------------------------------- schemes
def test_a_registered_scheme_may_return_the_checkpoint(scheme_registry):
    source = trained()

    @register_scheme("mem://")
    def load_mem(filename, map_location):
        assert filename == "mem://weights" and map_location == "cpu"
        return {"state_dict": source.state_dict()}

    model = Classifier(init_cfg=dict(type="Pretrained", checkpoint="mem://weights"))
    model.init_weights()
    assert_same_weights(model, source)


def test_a_registered_scheme_returning_a_path_keeps_the_safety_checks(scheme_registry, ckpt, tmp_path):
    marker = tmp_path / "pwned"
    path = ckpt({"x": Payload(marker)})
    register_scheme(["store://", "store2://"], lambda filename, map_location: path)
    with pytest.raises(CheckpointUnsafeError):
        load_checkpoint(Classifier(), "store2://x")
    assert not marker.exists()


def test_registering_a_scheme_twice_needs_force(scheme_registry):
    register_scheme("mem://", lambda f, m: {})
    with pytest.raises(RegistryError, match="force=True") as info:
        register_scheme("mem://", lambda f, m: {})
    assert isinstance(info.value, KeyError)
    register_scheme("mem://", lambda f, m: {"w": torch.ones(1)}, force=True)
    assert read_checkpoint("mem://x")["w"].item() == 1


def test_a_loader_returning_something_else_is_a_format_error(scheme_registry):
    register_scheme("odd://", lambda f, m: 42)
    with pytest.raises(CheckpointFormatError, match="returned 42"):
        read_checkpoint("odd://x")


def test_an_unknown_scheme_lists_the_known_ones():
    model = Classifier()
    before = state_of(model)
    with pytest.raises(UnknownSchemeError) as info:
        load_checkpoint(model, "htps://example.invalid/model.pth")
    assert isinstance(info.value, ValueError)
    text = str(info.value)
    assert "Known schemes: file://, http://, https://, open-mmlab://, openmmlab://, torchvision://" in text
    assert "Did you mean 'https://'" in text
    assert_unchanged(model, before)


# --------------------------------------------------------------------------- the Pretrained config
def test_pretrained_normalizes_revise_keys_and_describes_what_differs(tmp_path):
    init = Pretrained(
        checkpoint=tmp_path / "a.pth", prefix="backbone", revise_keys=[["^m\\.", ""]], strict=True
    )
    assert init.revise_keys == (("^m\\.", ""),)
    assert init.describe() == (
        f"Pretrained({str(tmp_path / 'a.pth')!r}, prefix='backbone', "
        "revise_keys=(('^m\\\\.', ''),), strict=True)"
    )
    assert Pretrained(checkpoint="a.pth").describe() == "Pretrained('a.pth')"


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(checkpoint=3), ConfigTypeError, "checkpoint must be"),
        (dict(checkpoint="a", prefix=1), ConfigTypeError, "prefix must be"),
        (dict(checkpoint="a", prefix="."), ConfigValueError, "prefix must name"),
        (dict(checkpoint="a", map_location=0), ConfigTypeError, "map_location must be"),
        (dict(checkpoint="a", strict="yes"), ConfigTypeError, "strict must be True or False"),
        (dict(checkpoint="a", allow_pickle=1), ConfigTypeError, "allow_pickle must be True or False"),
        (dict(checkpoint="a", min_loaded=1.5), ConfigValueError, r"must be in \[0, 1\]"),
        (dict(checkpoint="a", min_loaded="most"), ConfigTypeError, "min_loaded must be a number"),
    ],
)
def test_pretrained_rejects_bad_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        Pretrained(**kwargs)


def test_load_checkpoint_rejects_a_bad_min_loaded_before_reading(tmp_path):
    with pytest.raises(ConfigValueError):
        load_checkpoint(Classifier(), tmp_path / "missing.pth", min_loaded=2)


def test_plan_pretrained_changes_nothing_and_returns_tensors_ready_to_copy(ckpt):
    source = trained(num_classes=1000)
    path = ckpt(source.state_dict())
    model = Classifier()
    before = state_of(model)
    plan = plan_pretrained(Pretrained(checkpoint=path), model)
    assert_unchanged(model, before)
    assert set(plan.tensors) == set(plan.result.loaded)
    for key, value in plan.tensors.items():
        assert value.shape == model.state_dict()[key].shape
    assert isinstance(plan.result, LoadResult)


# --------------------------------------------------------------------------- init_weights
def test_init_weights_loads_a_pretrained_init_cfg(ckpt):
    source = trained()
    path = ckpt({"state_dict": source.state_dict()})
    model = Classifier(init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    report = model.init_weights()
    assert_same_weights(model, source)
    assert report.loads[0].complete


def test_fine_tuning_with_a_new_head_gives_the_head_its_configured_rule(ckpt):
    source = trained(num_classes=1000)
    path = ckpt({"state_dict": source.state_dict()})
    model = Classifier(
        num_classes=10,
        init_cfg=[
            dict(type="Constant", layer="Linear", val=0.25, bias=0.5),
            dict(type="Pretrained", checkpoint=str(path), min_loaded=0.5),
        ],
    )
    report = model.init_weights()
    assert_same_weights(model.backbone, source.backbone)
    assert torch.all(model.head.weight == 0.25) and torch.all(model.head.bias == 0.5)
    assert report.loads[0].mismatched == (("head.weight", (1000, 4), (10, 4)), ("head.bias", (1000,), (10,)))


def test_tensors_the_checkpoint_fills_are_not_randomly_initialized_first(ckpt):
    source = trained()
    path = ckpt(source.state_dict())
    model = Classifier(
        init_cfg=[
            dict(type="Normal", layer=["Conv2d", "Linear"], std=0.01),
            dict(type="Pretrained", checkpoint=str(path)),
        ]
    )
    rng = torch.random.get_rng_state()
    model.init_weights()
    assert torch.equal(torch.random.get_rng_state(), rng)  # no random fill was drawn
    assert_same_weights(model, source)


def test_a_pretrained_child_with_a_prefix_loads_its_part_of_a_whole_model_checkpoint(ckpt):
    source = trained()
    path = ckpt({"state_dict": source.state_dict()})
    model = Classifier(backbone_cfg=dict(type="Pretrained", checkpoint=str(path), prefix="backbone."))
    model.init_weights()
    assert_same_weights(model.backbone, source.backbone)


def test_a_failing_pretrained_rule_leaves_the_whole_model_unchanged(ckpt):
    path = ckpt(trained().state_dict())
    model = Classifier(
        init_cfg=[
            dict(type="Constant", layer="Linear", val=3.0),
            dict(type="Pretrained", checkpoint=str(path), prefix="encoder"),
        ]
    )
    before = state_of(model)
    with pytest.raises(CheckpointPrefixError):
        model.init_weights()
    assert not model.is_init
    assert_unchanged(model, before)


@pytest.mark.parametrize(
    "call",
    [
        lambda path: load_state_dict(Classifier(), [torch.ones(1)]),
        lambda path: load_state_dict("model", {}),
        lambda path: load_checkpoint({"model": 1}, path),
        lambda path: load_checkpoint(Classifier(), 42),
    ],
    ids=["state-dict-a-list", "module-a-str", "model-a-dict", "filename-an-int"],
)
def test_arguments_of_the_wrong_type_are_type_errors(ckpt, call):
    with pytest.raises(ConfigTypeError):
        call(ckpt(trained().state_dict()))

"""The steps the subcommands share: output files, the JSON envelope, --module, the config's input_shape."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from torchinit import MODELS, BaseModule, build_model
from torchinit.cli import main

ENVELOPE = ["command", "ok", "exit_status", "error"]


@MODELS.register_module()
class StepsNet(BaseModule):
    """backbone (conv) -> head (linear): two children to name with --module."""

    def __init__(self, init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.backbone(x).mean((2, 3)))


MODEL = {
    "type": "StepsNet",
    "init_cfg": [{"type": "Kaiming", "layer": "Conv2d"}, {"type": "Normal", "layer": "Linear"}],
}


def run(*argv: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "steps.json"
    path.write_text(json.dumps({"model": MODEL, "input_shape": [1, 3, 6, 6]}))
    return path


# --------------------------------------------------------------------------- output files
def test_save_and_record_create_their_folders(cfg: Path, tmp_path: Path) -> None:
    weights, record = tmp_path / "new" / "deeper" / "w.safetensors", tmp_path / "runs" / "r.json"
    code, out, _ = run("init", cfg, "--save", weights, "--record", record)
    assert code == 0 and f"Saved the weights to {weights}" in out
    assert weights.stat().st_size > 0 and json.loads(record.read_text())["parameters"] == 122


@pytest.mark.parametrize("flag", ["--save", "--record", "--plot"])
def test_an_output_onto_a_folder_or_under_a_file_fails_before_any_work(
    cfg: Path, tmp_path: Path, flag: str
) -> None:
    code, out, err = run("init", cfg, flag, tmp_path)
    assert (code, out) == (2, "")
    assert (
        err
        == f"torchinit: error: {flag} {tmp_path}: is a folder; give a file name (e.g. {tmp_path / 'out'}).\n"
    )
    (tmp_path / "file").write_text("")
    code, out, err = run("init", cfg, flag, tmp_path / "file" / "x.out")
    assert (code, out) == (2, "")
    assert (
        err == f"torchinit: error: {flag} {tmp_path / 'file' / 'x.out'}: {tmp_path / 'file'} is a file, "
        "so no folder can be made there.\n"
    )


def test_a_failed_write_names_the_flag_and_the_reason(cfg: Path, tmp_path: Path, monkeypatch) -> None:
    from torchinit import _commands

    def disk_full(model, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_commands, "_save", disk_full)
    code, out, err = run("init", cfg, "--save", tmp_path / "w.pt", "--json")
    message = f"--save {tmp_path / 'w.pt'}: cannot write it: No space left on device."
    assert (code, err) == (2, f"torchinit: error: {message}\n")
    assert json.loads(out) == {"command": "init", "ok": False, "exit_status": 2, "error": message}


# --------------------------------------------------------------------------- the JSON envelope
def test_every_subcommand_prints_one_object_with_the_same_envelope(cfg: Path, tmp_path: Path) -> None:
    ckpt = tmp_path / "w.pth"
    torch.save(build_model(MODEL).state_dict(), ckpt)
    runs = {
        "plan": run("plan", cfg, "--json"),
        "init": run("init", cfg, "--json"),
        "verify": run("verify", cfg, "--checkpoint", ckpt, "--json"),
        "probe": run("probe", cfg, "--json"),
        "list": run("list", "--json"),
    }
    for command, (code, out, err) in runs.items():
        payload = json.loads(out)
        assert (code, err) == (0, ""), command
        assert list(payload)[:4] == ENVELOPE
        assert [payload[k] for k in ENVELOPE] == [command, True, 0, None]
        if command != "list":
            assert payload["config"] == str(cfg) and payload["model"] == "StepsNet"


# --------------------------------------------------------------------------- --module
@pytest.mark.parametrize(
    ("module", "expected"),
    [
        (
            "backbon",
            "--module 'backbon': the model has no submodule 'backbon'. Did you mean 'backbone'? "
            "Its children: backbone, head.",
        ),
        ("backbone.2", "--module 'backbone.2': 'backbone' has no submodule '2'. Its children: 0, 1."),
        ("head.weight", "--module 'head.weight': 'head' has no submodule 'weight'. Its children: none."),
    ],
)
def test_a_module_that_does_not_exist_names_close_names_and_the_real_children(
    cfg: Path, tmp_path: Path, module: str, expected: str
) -> None:
    ckpt = tmp_path / "w.pth"
    torch.save(build_model(MODEL).state_dict(), ckpt)
    code, out, err = run("verify", cfg, "--checkpoint", ckpt, "--module", module)
    assert (code, out, err) == (2, "", f"torchinit: error: {cfg}: {expected}\n")


def test_a_module_path_through_a_container_reaches_the_submodule(cfg: Path, tmp_path: Path) -> None:
    ckpt = tmp_path / "conv.pth"
    torch.save(build_model(MODEL).backbone[0].state_dict(), ckpt)
    code, out, _ = run("verify", cfg, "--checkpoint", ckpt, "--module", "backbone.0")
    assert code == 0 and "loaded 2/2 tensors" in out


# --------------------------------------------------------------------------- input_shape in the config
@pytest.mark.parametrize("shape", [[1, 3, 0, 6], "1,3,6,6", [1, True, 6, 6], []])
def test_a_bad_input_shape_in_the_config_is_named(tmp_path: Path, shape: object) -> None:
    path = tmp_path / "shape.json"
    path.write_text(json.dumps({"model": MODEL, "input_shape": shape}))
    code, out, err = run("probe", path)
    assert (code, out) == (2, "")
    assert err.startswith(
        f"torchinit: error: {path}: input_shape must be a list of sizes >= 1 like [1, 3, 224, 224]"
    )


# --------------------------------------------------------------------------- any nn.Module
THIRD_PARTY = '''
import torch
from torch import nn


class Net(nn.Module):
    """A third-party model: its constructor runs its own init (zero head, as timm's)."""

    def __init__(self, width=8):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 4)
        self.init_weights()

    def init_weights(self):
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x):
        return self.head(self.norm(self.stem(x).mean((2, 3))))


def make(width=8):
    return Net(width)


model = dict(type={type}, width=8{init_cfg})
input_shape = [1, 3, 6, 6]
'''
RULES = ", init_cfg=[dict(type='Kaiming', layer='Conv2d'), dict(type='Constant', layer='LayerNorm', val=1)]"


def third_party(tmp_path: Path, type_: str = "make", init_cfg: str = RULES) -> Path:
    path = tmp_path / "third_party.py"
    path.write_text(THIRD_PARTY.replace("{type}", type_).replace("{init_cfg}", init_cfg))
    return path


def _records(payload: dict, key: str) -> dict[str, tuple]:
    return {name: (p["source"], p["initializer"], p["owner"]) for name, p in payload[key]["params"].items()}


@pytest.mark.parametrize("type_", ["make", "Net"], ids=["a factory", "a class"])
def test_init_applies_the_configs_init_cfg_to_a_model_that_is_not_a_base_module(tmp_path: Path, type_: str) -> None:
    path = third_party(tmp_path, type_)
    code, out, err = run("init", path)
    assert (code, err) == (0, ""), err
    assert "Init: the config's init_cfg, applied with initialize() semantics (Net is not a BaseModule)" in out
    assert "the rest keeps what Net.init_weights set when it was built" in out
    assert "Left as built (no rule covers them; they keep what Net.init_weights set): head.weight, head.bias" in out
    assert "initialize(seed=0) took" in out and "Health check" in out and "error" not in out.split("Health")[1]


def test_plan_and_init_agree_tensor_by_tensor_and_with_what_the_run_changes(tmp_path: Path) -> None:
    path = third_party(tmp_path)
    plan_code, plan_out, _ = run("plan", path, "--json")
    weights = tmp_path / "w.pt"
    init_code, init_out, _ = run("init", path, "--json", "--save", weights)
    planned, done = json.loads(plan_out), json.loads(init_out)
    assert (plan_code, init_code) == (0, 0)
    assert _records(planned, "plan") == _records(done, "report")
    assert planned["semantics"] == done["semantics"] == "initialize"
    assert done["own_init"] == "Net.init_weights"
    values = torch.load(weights)
    assert not values["head.weight"].any()  # left as built: the model's own zeros, not a finding
    assert bool((values["norm.weight"] == 1).all()) and done["health"]["ok"] and done["health"]["findings"] == []
    assert {name for name, (source, _, _) in _records(done, "report").items() if source == "none"} == {
        "head.weight", "head.bias"}


def test_without_an_init_cfg_plan_and_init_of_a_plain_module_both_say_there_is_nothing_to_apply(
    tmp_path: Path,
) -> None:
    path = third_party(tmp_path, init_cfg="")
    expected = (
        f"torchinit: error: {path}: model: Net is not a BaseModule and the config gives no init_cfg, so there is "
        "nothing to initialize. Add init_cfg=[...] to model (the rules for Net, e.g. a preset of torchinit.presets), "
        "or build a torchinit BaseModule.\n"
    )
    assert run("plan", path) == (2, "", expected)
    assert run("init", path) == (2, "", expected)


def test_a_factory_that_takes_init_cfg_gets_it_and_its_base_module_runs_init_weights(tmp_path: Path) -> None:
    path = tmp_path / "factory.py"
    path.write_text(
        "from torch import nn\nfrom torchinit import BaseModule\n"
        "class Own(BaseModule):\n"
        "    def __init__(self, init_cfg=None):\n        super().__init__(init_cfg)\n        self.head = nn.Linear(4, 2)\n"
        "def make(init_cfg=None):\n    return Own(init_cfg=init_cfg)\n"
        "model = dict(type=make, init_cfg=[dict(type='Constant', layer='Linear', val=0.5)])\n"
    )
    code, out, _ = run("init", path, "--json")
    payload = json.loads(out)
    assert code == 0 and payload["semantics"] == "init_weights" and payload["own_init"] is None
    assert _records(payload, "report")["head.weight"][:2] == ("rule", "Constant(val=0.5)")


def test_verify_and_probe_use_the_held_back_init_cfg(tmp_path: Path) -> None:
    ckpt = tmp_path / "w.pth"
    torch.save({"stem.weight": torch.zeros(8, 3, 3, 3), "stem.bias": torch.zeros(8)}, ckpt)
    path = third_party(tmp_path, init_cfg=f", init_cfg=[dict(type='Pretrained', checkpoint={str(ckpt)!r})]")
    code, out, _ = run("verify", path, "--min-loaded", "0.5")
    assert code == 0 and "loaded 2/" in out
    code, out, _ = run("probe", third_party(tmp_path), "--json")
    assert code == 0 and json.loads(out)["health"]["ok"]

"""The torchinit command: each subcommand on small Python, YAML and JSON configs; outputs and exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import torchinit
from torchinit import MODELS, BaseModule
from torchinit.cli import main


@MODELS.register_module()
class CliNet(BaseModule):
    """conv -> relu -> pooled linear head: 4 parameters, 3 leaf layers."""

    def __init__(self, width: int = 8, init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.act = nn.ReLU()
        self.head = nn.Linear(width, 2)

    def forward(self, x):
        return self.head(self.act(self.conv(x)).mean((2, 3)))


class _NanInit(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(4))

    def init_weights(self) -> None:  # user code that goes wrong
        with torch.no_grad():
            self.weight.fill_(float("nan"))


@MODELS.register_module()
class CliNanNet(BaseModule):
    def __init__(self, init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.part = _NanInit()


RULES = [dict(type="Kaiming", layer="Conv2d"), dict(type="Normal", layer="Linear", std=0.01)]
MODEL = dict(type="CliNet", width=8, init_cfg=RULES)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def py_cfg(tmp_path: Path) -> Path:
    path = tmp_path / "net.py"
    path.write_text(f"model = {MODEL!r}\ninput_shape = (2, 3, 8, 8)\n")
    return path


@pytest.fixture
def yaml_cfg(tmp_path: Path) -> Path:
    path = tmp_path / "net.yaml"
    path.write_text(
        textwrap.dedent("""\
        model:
          type: CliNet
          width: 8
          init_cfg:
            - {type: Kaiming, layer: Conv2d}
            - {type: Normal, layer: Linear, std: 0.01}
        """)
    )
    return path


@pytest.fixture
def json_cfg(tmp_path: Path) -> Path:
    path = tmp_path / "net.json"
    path.write_text(json.dumps({"model": MODEL}))
    return path


# --------------------------------------------------------------------------- plan
def test_plan_shows_each_tensor_under_its_module_with_its_rule(py_cfg: Path) -> None:
    code, out, err = run("plan", py_cfg)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"Config: {py_cfg}"
    assert lines[1] == "Model: CliNet, 242 parameters in 4 modules"
    conv = lines.index("conv (Conv2d)")
    assert lines[conv + 1].split()[:3] == ["weight", "8x3x3x3", "Kaiming(a=0,"]
    assert "init_cfg of the root" in lines[conv + 1]
    assert lines[conv + 2].split()[:4] == ["bias", "8", "bias", "="]
    assert lines[-1] == "4 tensors: 4 set by a rule"


def test_plan_json_is_the_library_plan(json_cfg: Path) -> None:
    code, out, _ = run("plan", json_cfg, "--json")
    payload = json.loads(out)
    expected = json.loads(torchinit.plan(torchinit.build_model(MODEL)).to_json())
    assert code == 0 and payload["model"] == "CliNet" and payload["plan"] == expected


def test_plan_lists_rules_that_match_nothing(tmp_path: Path) -> None:
    path = tmp_path / "cfg.json"
    path.write_text(
        json.dumps({"model": dict(MODEL, init_cfg=[*RULES, dict(type="Xavier", layer="Conv3d")])})
    )
    code, out, _ = run("plan", path)
    assert code == 0
    assert "Rules that matched nothing:" in out and "layer='Conv3d'" in out


# --------------------------------------------------------------------------- init
def test_init_of_a_yaml_config_prints_the_rules_the_summary_and_a_clean_health_check(yaml_cfg: Path) -> None:
    code, out, err = run("init", yaml_cfg)
    assert (code, err) == (0, "")
    assert "init_weights(seed=0) took" in out
    assert "4 tensors: 4 set by a rule" in out
    assert "Health check: 4 parameters, 4 checked against their rule's promise: no problems" in out
    rules = [line.split()[0] for line in out.splitlines() if line.startswith(("Kaiming(", "Normal("))]
    # the rules as applied, then the health check's rows: weights and biases of each rule
    assert rules == ["Kaiming(a=0,", "Normal(mean=0,", *["Kaiming(a=0,"] * 2, *["Normal(mean=0,"] * 2]


def test_init_with_a_seed_is_reproducible_and_saves_safetensors(json_cfg: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    first, second = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    assert run("init", json_cfg, "--seed", 7, "--save", first)[0] == 0
    code, out, _ = run("init", json_cfg, "--seed", 7, "--save", second)
    assert code == 0 and f"Saved the weights to {second}" in out
    a, b = load_file(first), load_file(second)
    assert sorted(a) == ["conv.bias", "conv.weight", "head.bias", "head.weight"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_init_writes_the_reproducibility_record_and_json(py_cfg: Path, tmp_path: Path) -> None:
    record_path = tmp_path / "run.json"
    code, out, _ = run("init", py_cfg, "--seed", 3, "--record", record_path, "--json")
    payload = json.loads(out)
    record = json.loads(record_path.read_text())
    assert code == 0 and payload["record"] == record and payload["health"]["ok"]
    assert record["seed"] == 3 and record["torchinit"] == torchinit.__version__
    assert record["config"] == MODEL and record["parameters"] == 242
    assert [(r["rule"].split("(")[0], r["tensors"]) for r in record["rules"]] == [
        ("Kaiming", 2),
        ("Normal", 2),
    ]


def test_init_exits_1_when_the_health_check_finds_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nan.json"
    path.write_text(json.dumps({"model": {"type": "CliNanNet"}}))
    code, out, _ = run("init", path)
    assert code == 1
    assert "error: part.weight: holds NaN or Inf (initialized by the user-defined init_weights of" in out


def test_a_failed_check_in_json_is_exit_1_with_ok_false_and_no_error_and_strict_json(tmp_path: Path) -> None:
    path = tmp_path / "nan.json"
    path.write_text(json.dumps({"model": {"type": "CliNanNet"}}))
    code, out, _ = run("init", path, "--json")

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    payload = json.loads(out, parse_constant=refuse)  # the NaN weights' statistics are strings
    envelope = [payload[k] for k in ("command", "ok", "exit_status", "error")]
    assert code == 1 and envelope == ["init", False, 1, None]
    assert not payload["health"]["ok"]


def test_init_without_a_config_runs_the_bundled_example_detector() -> None:
    code, out, _ = run("init")
    assert code == 0
    assert out.startswith("Config: the bundled example (examples/models.py DETECTOR_CFG")
    assert "Model: RetinaNet," in out and "88 tensors: 88 set by a rule" in out
    assert "Health check: 88 parameters, 88 checked against their rule's promise: no problems" in out


# --------------------------------------------------------------------------- verify
def test_verify_passes_for_a_checkpoint_that_fills_the_model(py_cfg: Path, tmp_path: Path) -> None:
    ckpt = tmp_path / "w.pth"
    torch.save({"state_dict": torchinit.build_model(MODEL).state_dict()}, ckpt)
    code, out, _ = run("verify", py_cfg, "--checkpoint", ckpt)
    assert code == 0
    assert f"Checkpoint: loaded 4/4 tensors (100.0% of parameters) from {ckpt}" in out
    assert out.splitlines()[-1] == "verify: passed"


def test_verify_exits_1_when_a_threshold_fails_and_0_when_it_is_relaxed(py_cfg: Path, tmp_path: Path) -> None:
    ckpt = tmp_path / "wide.safetensors"
    from safetensors.torch import save_file

    wide = torchinit.build_model(dict(MODEL, width=16))  # every shape differs except head.bias
    save_file(wide.state_dict(), ckpt)
    code, out, _ = run("verify", py_cfg, "--checkpoint", ckpt)
    assert code == 1 and out.splitlines()[-1] == "verify: FAILED"
    assert [
        line.split()[-1] for line in out.splitlines() if line.startswith(("loaded fraction", "mismatched"))
    ] == ["FAIL", "FAIL"]
    code, out, _ = run("verify", py_cfg, "--checkpoint", ckpt, "--min-loaded", "0", "--max-mismatched", "3")
    assert code == 0, out


def test_verify_checks_a_submodule_and_hints_at_the_prefix(py_cfg: Path, tmp_path: Path) -> None:
    ckpt = tmp_path / "w.pth"
    torch.save(torchinit.build_model(MODEL).state_dict(), ckpt)
    code, out, _ = run("verify", py_cfg, "--checkpoint", ckpt, "--module", "head")
    assert code == 1 and "add --prefix head" in out
    code, out, _ = run(
        "verify", py_cfg, "--checkpoint", ckpt, "--module", "head", "--prefix", "head", "--json"
    )
    (load,) = json.loads(out)["loads"]
    assert code == 0 and load["loaded"] == ["weight", "bias"] and all(c["passed"] for c in load["checks"])


def test_verify_uses_the_configs_pretrained_rule_and_its_own_threshold_exits_1(tmp_path: Path) -> None:
    ckpt = tmp_path / "w.pth"
    torch.save(torchinit.build_model(MODEL).state_dict(), ckpt)
    rules = [*RULES, dict(type="Pretrained", checkpoint=str(ckpt))]
    path = tmp_path / "pre.json"
    path.write_text(json.dumps({"model": dict(MODEL, init_cfg=rules)}))
    code, out, _ = run("verify", path)
    assert code == 0 and "loaded 4/4 tensors" in out
    code, _, err = run(
        "verify", path, "--cfg-options", "model.init_cfg.2.prefix=backbone", "model.init_cfg.2.min_loaded=0.5"
    )
    assert code != 0 and err.startswith(f"torchinit: error: {path}:")


# --------------------------------------------------------------------------- probe
def test_probe_records_every_layer_in_forward_order(py_cfg: Path) -> None:
    code, out, _ = run("probe", py_cfg)  # the config's input_shape
    assert code == 0
    rows = [line.split()[:4] for line in out.splitlines() if line[:1].isdigit()]
    assert rows == [
        ["0", "conv", "Conv2d", "2x8x8x8"],
        ["1", "act", "ReLU", "2x8x8x8"],
        ["2", "head", "Linear", "2x2"],
    ]
    assert "Probe: 3 layer outputs; std" in out


def test_probe_json_and_input_shape_flag(yaml_cfg: Path) -> None:
    code, out, _ = run("probe", yaml_cfg, "--input-shape", "1,3,5,5", "--json", "--no-init")
    payload = json.loads(out)
    assert code == 0 and payload["health"] is None
    assert payload["probe"]["input_shape"] == [1, 3, 5, 5] and len(payload["probe"]["layers"]) == 3


def test_probe_with_a_wrong_input_shape_says_so(py_cfg: Path) -> None:
    code, _, err = run("probe", py_cfg, "--input-shape", "1,4,8,8")
    assert (
        code == 2
        and "the forward pass on a random input of shape (1, 4, 8, 8)" in err
        and "Traceback" not in err
    )


def test_probe_plot_writes_a_png(py_cfg: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "probe.png"
    code, out, _ = run("probe", py_cfg, "--plot", png)
    assert code == 0 and f"Plot: {png}" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_plot_without_matplotlib_says_how_to_install_it(py_cfg: Path, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    code, out, err = run("init", py_cfg, "--plot", tmp_path / "x.png")
    assert (code, out) == (2, "")
    hint = "plots need matplotlib: pip install 'torchinit[plot]' (or pip install matplotlib)."
    assert err == f"torchinit: error: {hint}\n"


# --------------------------------------------------------------------------- list
def test_list_names_initializers_layers_models_and_schemes() -> None:
    code, out, _ = run("list")
    assert code == 0
    assert any(line.startswith("Kaiming ") and "He et al. (2015)" in line for line in out.splitlines())
    assert any(line.split()[:2] == ["norm", "BN,"] for line in out.splitlines())
    assert "CliNet" in out and "Checkpoint schemes: file://, http://" in out
    payload = json.loads(run("list", "--json")[1])
    assert "Kaiming" in payload["initializers"] and "Conv2d" in payload["layers"]["conv"]
    assert "CliNet" in payload["models"] and "torchvision://" in payload["schemes"]


# --------------------------------------------------------------------------- configs
def test_a_python_config_may_define_and_register_its_own_model(tmp_path: Path) -> None:
    path = tmp_path / "own.py"
    path.write_text(
        textwrap.dedent("""\
        from torch import nn
        from torchinit import MODELS, BaseModule

        @MODELS.register_module()
        class CliConfigDefinedNet(BaseModule):
            def __init__(self, init_cfg=None):
                super().__init__(init_cfg)
                self.fc = nn.Linear(4, 4)

        model = dict(type='CliConfigDefinedNet', init_cfg=dict(type='Constant', layer='Linear', val=1))
        """)
    )
    code, out, _ = run("init", path)
    assert code == 0 and "Model: CliConfigDefinedNet, 20 parameters" in out


def test_import_flag_and_custom_imports_reach_modules_in_the_current_directory(
    tmp_path: Path, monkeypatch
) -> None:
    for module, cls in (("cli_flag_models", "CliFlagNet"), ("cli_custom_models", "CliCustomNet")):
        (tmp_path / f"{module}.py").write_text(
            textwrap.dedent(f"""\
            from torch import nn
            from torchinit import MODELS, BaseModule

            @MODELS.register_module()
            class {cls}(BaseModule):
                def __init__(self, init_cfg=None):
                    super().__init__(init_cfg)
                    self.fc = nn.Linear(2, 2)
            """)
        )
    (tmp_path / "flag.yaml").write_text("model: {type: CliFlagNet}\n")
    (tmp_path / "custom.json").write_text(
        json.dumps({"custom_imports": {"imports": ["cli_custom_models"]}, "model": {"type": "CliCustomNet"}})
    )
    monkeypatch.chdir(tmp_path)
    code, _, err = run("plan", "flag.yaml")
    assert code == 2 and "flag.yaml: model.type: 'CliFlagNet' is not a registered model" in err
    assert "--import MODULE, or custom_imports" in err
    assert run("plan", "flag.yaml", "--import", "cli_flag_models")[0] == 0
    assert run("plan", "custom.json")[0] == 0
    code, _, err = run("plan", "flag.yaml", "--import", "no_such_models")
    assert code == 2 and "--import: cannot import 'no_such_models'" in err


def test_cfg_options_override_nested_values_by_dotted_key(py_cfg: Path) -> None:
    code, out, _ = run("plan", py_cfg, "--cfg-options", "model.width=4", "model.init_cfg.0.type=Xavier")
    assert code == 0 and "Model: CliNet, 122 parameters" in out
    assert any(line.split()[:2] == ["weight", "4x3x3x3"] and "Xavier(" in line for line in out.splitlines())


@pytest.mark.parametrize(
    ("name", "text", "args", "expected"),
    [
        (
            "syntax.py",
            "model = dict(type='CliNet',\n  width=8\n  init_cfg=None)\n",
            [],
            "syntax.py, line 2: syntax error",
        ),
        (
            "raises.py",
            "x = 1\nmodel = dict(type='CliNet', width=1 / 0)\n",
            [],
            "raises.py, line 2: running the config raised ZeroDivisionError",
        ),
        (
            "unknown.yaml",
            "model:\n  type: CliNett\n",
            [],
            "unknown.yaml: model.type: 'CliNett' is not a registered model. Did you mean 'CliNet'",
        ),
        (
            "nested.json",
            json.dumps({"model": dict(MODEL, init_cfg=[RULES[0], dict(type="Kaimng", layer="Linear")])}),
            [],
            "nested.json: model.init_cfg.1.type: init_cfg of the root (CliNet)[1]: 'Kaimng' is not",
        ),
        (
            "value.json",
            json.dumps({"model": dict(MODEL, init_cfg=dict(type="Kaiming", layer="Conv2d", mode="fan"))}),
            [],
            "value.json: model.init_cfg: init_cfg of the root (CliNet): Kaiming: mode must be one of",
        ),
        (
            "argument.yaml",
            "model: {type: CliNet, widht: 3}\n",
            [],
            "argument.yaml: model: model 'CliNet' got unexpected argument(s) 'widht'. Did you mean 'width'?",
        ),
        ("broken.yaml", "model:\n  type: [CliNet\n", [], "broken.yaml, line 3 column 1: invalid YAML"),
        ("broken.json", '{"model": {"type": "CliNet",}}', [], "broken.json, line 1 column 29: invalid JSON"),
        (
            "nomodel.yaml",
            "net: {type: CliNet}\n",
            [],
            "nomodel.yaml: the config defines no 'model' (it defines: net)",
        ),
        (
            "ok.yaml",
            "model: {type: CliNet}\n",
            ["--cfg-options", "model.init_cfg.x=1"],
            "ok.yaml: model.init_cfg: init_cfg of the root (CliNet): the rule {'x': 1} has no 'type'",
        ),
        (
            "ok.yaml",
            "model: {type: CliNet}\n",
            ["--cfg-options", "model.type.x=1"],
            "ok.yaml: --cfg-options model.type.x: model.type is 'CliNet' (of type str), not a dict or a list",
        ),
        ("ok.txt", "model = 1\n", [], "ok.txt: unknown config format '.txt'"),
    ],
)
def test_a_bad_config_is_one_message_with_the_file_and_key_path_and_exit_2(
    tmp_path: Path, monkeypatch, name: str, text: str, args: list[str], expected: str
) -> None:
    (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    code, out, err = run("init", name, *args)
    assert (code, out) == (2, "")
    assert err.startswith(f"torchinit: error: {expected}"), err
    assert "Traceback" not in err


def test_a_missing_config_file_and_a_bad_flag_exit_2(tmp_path: Path) -> None:
    code, _, err = run("plan", tmp_path / "nope.py")
    assert code == 2 and "the config file does not exist" in err
    code, out, err = run("probe", "--input-shape", "1,a")
    assert (code, out) == (2, "")
    assert err == (
        "torchinit: error: torchinit probe: argument --input-shape: expected sizes >= 1 like 1,3,224,224, "
        "got '1,a' (see torchinit probe --help)\n"
    )


def test_a_missing_checkpoint_is_one_message_and_exit_2(py_cfg: Path) -> None:
    option = 'model.init_cfg=[{"type": "Pretrained", "checkpoint": "missing.pth"}]'
    code, _, err = run("plan", py_cfg, "--cfg-options", option)
    assert code == 2 and err.startswith(
        f"torchinit: error: {py_cfg}: checkpoint 'missing.pth' does not exist"
    )


def test_outside_a_checkout_the_default_config_asks_for_one(monkeypatch) -> None:
    import torchinit._demo

    monkeypatch.setattr(torchinit._demo, "_checkout", lambda: None)
    code, _, err = run("init")
    assert code == 2 and "Pass a config file: torchinit init my_config.py." in err


def test_an_error_with_json_also_prints_an_error_object(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("model: {type: Nope}\n")
    code, out, err = run("plan", tmp_path / "bad.yaml", "--json")
    assert code == 2 and json.loads(out) == {
        "command": "plan",
        "ok": False,
        "exit_status": 2,
        "error": err.removeprefix("torchinit: error: ").rstrip("\n"),
    }
    assert "Nope" in json.loads(out)["error"]


def test_python_dash_m_torchinit_runs_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "torchinit", "--version"], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout.strip()) == (0, f"torchinit {torchinit.__version__}")


# --------------------------------------------------------------------------- every failure: one line, exit 2
def assert_fails_in_one_line(
    code: int, out: str, err: str, expected: str, *, json_out: bool, command: str = "plan", status: int = 2
) -> None:
    """Exit ``status``, one line on stderr containing ``expected``, and with --json one error object."""
    assert code == status, err
    assert err.startswith("torchinit: error: ") and err.count("\n") == 1 and err.endswith("\n"), err
    assert expected in err and "Traceback" not in err
    if json_out:
        message = err.removeprefix("torchinit: error: ").rstrip("\n")
        assert json.loads(out) == {"command": command, "ok": False, "exit_status": status, "error": message}
    else:
        assert out == ""


HOSTILE_CONFIGS = [
    (
        "itself.py",
        b"model = dict(type='CliNet')\nmodel['init_cfg'] = [model]\n",
        "itself.py: model.init_cfg.0 refers to itself (a dict or list that contains itself)",
    ),
    (
        "anchor.yaml",
        b"model: &m {type: CliNet, init_cfg: [*m]}\n",
        "anchor.yaml: model.init_cfg.0 refers to itself",
    ),
    (
        "bomb.yaml",
        b"a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
        + b"".join(
            f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n".encode()
            for p, n in zip("abcde", "bcdef", strict=True)
        )
        + b"model: {type: CliNet, init_cfg: *f}\n",
        "bomb.yaml: e expands to more than 100,000 values",
    ),
    (
        "deep.json",
        ('{"model": {"type": "CliNet", "x": ' + "[" * 150 + "]" * 150 + "}}").encode(),
        "nested more",
    ),
    ("latin1.py", b"model = dict(type='Caf\xe9')\n", "latin1.py: not UTF-8 text (byte 0xe9 at offset 22)"),
    ("image.json", b"\x89PNG\r\n\x1a\n\x00\x00", "image.json: not UTF-8 text (byte 0x89 at offset 0)"),
    ("nul.py", b"model = 1\x00\n", "nul.py"),
    (
        "words.yaml",
        b"just some words\n",
        "words.yaml: the file must hold a mapping with a 'model' key at the top",
    ),
    ("empty.yaml", b"", "empty.yaml: the file must hold a mapping with a 'model' key at the top, got None"),
    (
        "lambda.py",
        b"model = dict(type=lambda: None)\n",
        "not a torch.nn.Module; type must name a model class",
    ),
    ("dict.py", b"model = dict(type=dict)\n", "built {} (of type dict), not a torch.nn.Module"),
    ("exit.py", b"import sys\nsys.exit(3)\n", "exit.py, line 2: running the config raised SystemExit: 3"),
    (
        "generator.py",
        b"raise GeneratorExit('odd')\n",
        "generator.py, line 1: running the config raised GeneratorExit: odd",
    ),
    ("raises.py", b"model = dict(type='CliNet', width=[][1])\n", "running the config raised IndexError"),
    ("syntax.py", b"model = dict(\n  type='CliNet'\n  width=3)\n", "syntax.py, line 2: syntax error:"),
    ("keys.yaml", b"{1: 2, [3]: 4}\n", "keys.yaml"),
    ("big.json", b'{"model": {"type": "CliNet", "width": 1' + b"0" * 5000 + b"}}", "big.json: invalid JSON"),
]


@pytest.mark.parametrize("json_out", [False, True], ids=["text", "json"])
@pytest.mark.parametrize(
    ("name", "content", "expected"), HOSTILE_CONFIGS, ids=[c[0] for c in HOSTILE_CONFIGS]
)
def test_a_hostile_config_fails_in_one_line_with_exit_2(
    tmp_path: Path, monkeypatch, name: str, content: bytes, expected: str, json_out: bool
) -> None:
    (tmp_path / name).write_bytes(content)
    monkeypatch.chdir(tmp_path)
    code, out, err = run("plan", name, *(["--json"] if json_out else []))
    assert_fails_in_one_line(code, out, err, expected, json_out=json_out)


def test_a_config_that_is_not_a_readable_file_fails_in_one_line(tmp_path: Path, monkeypatch) -> None:
    code, out, err = run("plan", tmp_path)
    assert_fails_in_one_line(code, out, err, "the config file is a directory", json_out=False)
    code, out, err = run("init", "/dev/null", "--json")
    assert_fails_in_one_line(
        code, out, err, "the config file is not a regular file", json_out=True, command="init"
    )
    locked = tmp_path / "locked.py"
    locked.write_text("model = dict(type='CliNet')\n")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)  # root reads any file: simulate chmod 000
    code, out, err = run("plan", locked)
    assert_fails_in_one_line(
        code, out, err, "locked.py: cannot read the config file: Permission denied.", json_out=False
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["verify", "--max-missing", "-1"], "argument --max-missing: expected a whole number >= 0, got '-1'"),
        (["verify", "--max-unexpected", "-3"], "argument --max-unexpected: expected a whole number >= 0"),
        (
            ["verify", "--max-mismatched", "1.5"],
            "argument --max-mismatched: expected a whole number >= 0, got '1.5'",
        ),
        (
            ["verify", "--min-loaded", "1.5"],
            "argument --min-loaded: expected a fraction from 0 to 1, got '1.5'",
        ),
        (["verify", "--min-loaded", "-0.1"], "argument --min-loaded: expected a fraction from 0 to 1"),
        (
            ["verify", "--min-loaded", "nan"],
            "argument --min-loaded: expected a fraction from 0 to 1, got 'nan'",
        ),
        (
            ["verify", "--min-loaded", "most"],
            "argument --min-loaded: expected a fraction from 0 to 1, got 'most'",
        ),
        (["init", "--seed", "-1"], "argument --seed: expected a whole number >= 0, got '-1'"),
        (
            ["probe", "--input-shape", "0,3,8,8"],
            "argument --input-shape: expected sizes >= 1 like 1,3,224,224",
        ),
        (["probe", "--input-shape", "1,-3"], "argument --input-shape: expected sizes >= 1"),
        (["probe", "--input-high", "0"], "argument --input-high: expected a whole number >= 1, got '0'"),
        (["init", "--device", "toaster"], "argument --device: expected a torch device such as cpu"),
        (
            ["plan", "--cfg-options", "model.depth"],
            "argument --cfg-options: expected KEY=VALUE with a dotted key",
        ),
        (["plan", "--cfg-options", "model..depth=1"], "expected KEY=VALUE with a dotted key"),
        (["plan", "--cfg-options", "model.x=[1,2"], "'model.x=[1,2': unbalanced brackets"),
        (["plan", "--bogus"], "torchinit: error: torchinit: unrecognized arguments: --bogus"),
        (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_numbers_out_of_range_and_bad_flags_are_rejected_by_the_parser_in_one_line(
    argv: list[str], expected: str
) -> None:
    code, out, err = run(*argv)
    assert_fails_in_one_line(code, out, err, expected, json_out=False)
    if argv and argv[0] in ("verify", "init", "probe", "plan"):
        code, out, err = run(*argv, "--json")
        assert_fails_in_one_line(code, out, err, expected, json_out=True, command=argv[0])


def test_debug_adds_the_traceback_and_keeps_the_exit_status(tmp_path: Path) -> None:
    (tmp_path / "exit.py").write_text("import sys\nsys.exit(3)\n")
    code, _, err = run("plan", tmp_path / "exit.py", "--debug")
    assert code == 2 and "Traceback (most recent call last)" in err and "SystemExit: 3" in err
    assert err.splitlines()[-1].startswith("torchinit: error: ") and err.splitlines()[-1].endswith(
        "SystemExit: 3"
    )


def test_an_interrupt_exits_130_and_an_unexpected_error_exits_2_in_one_line(
    monkeypatch, py_cfg: Path
) -> None:
    from torchinit import _commands

    def interrupted(args, out):
        raise KeyboardInterrupt

    def broken(args, out):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(_commands.COMMANDS, "plan", interrupted)
    assert_fails_in_one_line(
        *run("plan", py_cfg, "--json"), "torchinit: error: interrupted", json_out=True, status=130
    )
    monkeypatch.setitem(_commands.COMMANDS, "plan", broken)
    code, out, err = run("plan", py_cfg)
    assert_fails_in_one_line(
        code, out, err, "unexpected: ZeroDivisionError: division by zero", json_out=False
    )


@MODELS.register_module()
class CliExitNet(BaseModule):
    """A model whose user init_weights ends the process: the command must not."""

    def __init__(self, init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.part = _ExitInit()


class _ExitInit(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(2))

    def init_weights(self) -> None:
        sys.exit(5)


def test_a_model_whose_code_calls_sys_exit_fails_in_one_line_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "exit.json").write_text(json.dumps({"model": {"type": "CliExitNet"}}))
    code, out, err = run("init", tmp_path / "exit.json", "--json")
    assert_fails_in_one_line(code, out, err, "SystemExit", json_out=True, command="init")


def test_with_json_what_the_config_prints_goes_to_stderr_and_its_warnings_follow(tmp_path: Path) -> None:
    (tmp_path / "chatty.py").write_text(
        f"import warnings\nprint('hello from the config')\nwarnings.warn('careful')\nmodel = {MODEL!r}\n"
    )
    code, out, err = run("plan", tmp_path / "chatty.py", "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    assert err.splitlines() == ["hello from the config", "torchinit: warning: UserWarning: careful"]


# --------------------------------------------------------------------------- _base_ and --cfg-options
CONFIGS = Path(__file__).parent / "data" / "configs"


@MODELS.register_module()
class CliExtraNet(CliNet):
    """CliNet that also takes ``extra``: the dict the inheritance fixtures merge into."""

    def __init__(self, width: int = 8, init_cfg=None, extra=None) -> None:
        super().__init__(width, init_cfg)
        self.extra = extra


def describe(out: str) -> dict[str, str]:
    """Tensor name -> the rule that sets it, from ``plan --json`` output."""
    return {name: p["describe"].split(" (")[0] for name, p in json.loads(out)["plan"]["params"].items()}


def test_an_inherited_config_builds_the_merged_model() -> None:
    code, out, _ = run("plan", CONFIGS / "grandchild.yaml", "--json")
    assert code == 0 and json.loads(out)["model"] == "CliExtraNet"
    assert describe(out)["head.weight"].startswith(
        "Kaiming(a=0, mode=fan_in"
    )  # the base's mode, the child's layer
    code, out, _ = run("plan", CONFIGS / "grandchild.yaml")
    assert code == 0 and "Model: CliExtraNet, 62 parameters" in out  # width 2, from the last file
    code, out, _ = run("plan", CONFIGS / "child_delete.py", "--json")
    assert code == 0 and describe(out)["conv.weight"] == "Xavier(gain=1, distribution=normal)"


def test_a_base_cycle_is_one_line_naming_the_chain() -> None:
    code, out, err = run("plan", CONFIGS / "cycle_a.py")
    cycle = f"{CONFIGS}/cycle_a.py -> {CONFIGS}/nested/cycle_b.yaml -> {CONFIGS}/cycle_a.py"
    assert_fails_in_one_line(code, out, err, f"_base_ inheritance cycle: {cycle}.", json_out=False)


def test_cfg_options_take_lists_and_dicts_and_a_dict_merges_into_the_rule(py_cfg: Path) -> None:
    rules = "model.init_cfg=[{'type': 'Constant', 'layer': ['Conv2d', 'Linear'], 'val': 0.5}]"
    code, out, _ = run("plan", py_cfg, "--json", "--cfg-options", rules)
    assert code == 0 and all(rule.startswith("Constant(val=0.5)") for rule in describe(out).values())
    code, out, _ = run("plan", py_cfg, "--json", "--cfg-options", "model.init_cfg.1={'std': 0.5}")
    assert code == 0 and describe(out)["head.weight"] == "Normal(mean=0, std=0.5)"  # layer kept: merged
    code, out, _ = run("plan", py_cfg, "--json", "--cfg-options", "model.init_cfg.0.layer=[Linear,Conv2d]")
    assert code == 0 and describe(out)["head.weight"].startswith("Normal")  # the later rule still wins


# --------------------------------------------------------------------------- rules that cannot work
def test_plan_of_a_constant_that_overflows_float32_exits_2_naming_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    path.write_text(
        json.dumps({"model": dict(MODEL, init_cfg=dict(type="Constant", layer="Linear", val=1e308))})
    )
    code, out, err = run("plan", path)
    assert_fails_in_one_line(code, out, err, "Constant", json_out=False)


@pytest.mark.parametrize("layer", [{}, {"layer": []}], ids=["no layer", "layer=[]"])
def test_a_rule_that_fills_nothing_is_listed_by_plan(tmp_path: Path, layer: dict) -> None:
    path = tmp_path / "nolayer.json"
    path.write_text(json.dumps({"model": dict(MODEL, init_cfg=[dict(type="Normal", std=0.1, **layer)])}))
    code, out, _ = run("plan", path)
    assert code == 0 and "Rules that matched nothing:" in out
    assert "Normal(mean=0, std=0.1) has no layer, param or override, so it fills nothing" in out


def test_in_a_real_process_a_config_calling_sys_exit_is_exit_2_one_line_and_one_json_object(
    tmp_path: Path,
) -> None:
    (tmp_path / "exit.py").write_text("print('from the config')\nimport sys\nsys.exit(3)\n")
    done = subprocess.run(
        [sys.executable, "-m", "torchinit", "plan", "exit.py", "--json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    message = "exit.py, line 3: running the config raised SystemExit: 3"
    assert (done.returncode, done.stderr) == (2, f"from the config\ntorchinit: error: {message}\n")
    assert json.loads(done.stdout) == {"command": "plan", "ok": False, "exit_status": 2, "error": message}

"""``torchinit plan`` and ``torchinit init`` on a timm and a Hugging Face model built by a config
file: the config's init_cfg (a preset) is applied, plan and init agree tensor by tensor, and the
weights init saves are the library's own scheme. Also a timm model inside a BaseModule, whose
own init_weights is the model's code unless the config switches it off."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _compare import judge
from ecosystem_models import MODELS

from torchinit import initialize
from torchinit.cli import main

CONFIGS = Path(__file__).parent / "configs"
CASES = {
    "timm_vit.py": ("timm ViT (default)", "VisionTransformer.init_weights"),
    "hf_gpt2.py": ("HF GPT-2", "GPT2LMHeadModel.post_init"),
}


def run(*argv: object) -> tuple[int, dict]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], stdout=out, stderr=err)
    assert err.getvalue() == "", err.getvalue()
    return code, json.loads(out.getvalue())


def records(params: dict, *fields: str) -> dict[str, tuple]:
    """Per tensor: what set it, the rule, the module whose init_cfg held it (and ``fields``)."""
    return {name: tuple(p[f] for f in ("source", "initializer", "owner", *fields)) for name, p in params.items()}


@pytest.mark.parametrize("config", list(CASES))
def test_plan_and_init_apply_the_preset_agree_and_save_the_librarys_scheme(config: str, tmp_path: Path) -> None:
    name, built_by = CASES[config]
    plan_code, planned = run("plan", CONFIGS / config, "--json")
    weights = tmp_path / "w.pt"
    init_code, done = run("init", CONFIGS / config, "--json", "--save", weights)
    assert (plan_code, init_code) == (0, 0)
    assert planned["semantics"] == done["semantics"] == "initialize"
    assert planned["own_init"] == done["own_init"] == built_by
    assert records(planned["plan"]["params"]) == records(done["report"]["params"])
    assert {p["source"] for p in done["report"]["params"].values()} == {"rule"}
    assert done["health"]["ok"] and done["health"]["findings"] == []

    case = MODELS[name]
    torch.manual_seed(1)
    reference = case.build()
    torch.manual_seed(2)
    model = case.build()
    report = initialize(model, case.preset(), seed=1)  # the records the promises are read from
    model.load_state_dict(torch.load(weights))  # then the weights the command saved
    result = judge(reference, model, report)
    assert result.problems == [], "\n".join(result.problems)


def test_the_installed_command_runs_in_its_own_process() -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    done = subprocess.run([sys.executable, "-m", "torchinit", "init", str(CONFIGS / "timm_vit.py")],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "32 tensors: 32 set by a rule" in done.stdout and "no problems" in done.stdout


def test_plan_and_init_give_the_same_role_to_tensors_a_module_level_rule_sets() -> None:
    _, planned = run("plan", CONFIGS / "timm_vit.py", "--json")
    _, done = run("init", CONFIGS / "timm_vit.py", "--json")
    assert records(planned["plan"]["params"], "role") == records(done["report"]["params"], "role")


@pytest.mark.parametrize("skip", [False, True], ids=["its own init_weights", "switched off"])
def test_a_timm_model_in_a_base_module_runs_its_own_init_unless_the_config_switches_it_off(skip: bool) -> None:
    options = ["--cfg-options", f"model.skip={skip}"]
    plan_code, planned = run("plan", CONFIGS / "timm_vit_wrapped.py", "--json", *options)
    init_code, done = run("init", CONFIGS / "timm_vit_wrapped.py", "--json", *options)
    assert (plan_code, init_code) == (0, 0) and done["semantics"] == "init_weights"
    assert records(planned["plan"]["params"]) == records(done["report"]["params"])
    sources = {p["source"] for p in done["report"]["params"].values()}
    assert sources == ({"rule"} if skip else {"user"})
    if not skip:
        assert done["report"]["params"]["vit.head.bias"]["describe"] == (
            "initialized by the user-defined init_weights of VisionTransformer")
    assert done["health"]["ok"] and done["health"]["findings"] == []

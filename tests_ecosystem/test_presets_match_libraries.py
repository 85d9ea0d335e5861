"""Each preset against the library that defines its scheme, on the real models built from
configs (no weights): every tensor covered, and the same as the library's own init by the
preset's promises and a distribution test (see _compare.py)."""

from __future__ import annotations

import pytest
import torch
from _compare import compare
from ecosystem_models import MODELS

from torchinit import presets


@pytest.mark.parametrize("name", list(MODELS))
def test_the_preset_alone_initializes_every_tensor_as_the_library_does(name: str) -> None:
    case = MODELS[name]
    torch.manual_seed(1)
    reference = case.build()
    torch.manual_seed(2)
    ours = case.build()
    result = compare(reference, ours, case.preset())
    assert result.problems == [], "\n".join(result.problems)
    assert result.unpromised == [], f"tensors whose rule promises nothing checkable: {result.unpromised}"


UNSCALED = [f"transformer.h.*.{path}" for path in ("attn.c_attn", "mlp.c_fc", "attn.c_proj", "mlp.c_proj")]


@pytest.mark.parametrize(
    ("name", "wrong", "expect"),
    [
        ("timm ViT (default)", lambda: presets.timm_vit_init("jax"), "head.weight"),
        ("HF GPT-2", lambda: presets.gpt2_init(residual=(), projections=UNSCALED), "c_proj.weight"),
        ("timm EfficientNet-B0", lambda: presets.timm_efficientnet_init(depthwise="blocks.*.*.conv_pw"), "conv_dw"),
        ("HF T5", lambda: presets.t5_init(d_model=32, d_kv=32), "SelfAttention.q.weight"),
    ],
)
def test_the_comparison_catches_a_preset_that_differs_from_the_library(name: str, wrong, expect: str) -> None:
    case = MODELS[name]
    torch.manual_seed(1)
    reference = case.build()
    torch.manual_seed(2)
    result = compare(reference, case.build(), wrong())
    assert any(expect in problem for problem in result.problems), result.problems

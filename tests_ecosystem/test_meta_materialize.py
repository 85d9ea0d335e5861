"""Every model built on the meta device (no memory, no random numbers) and materialized from
its preset alone: nothing left uninitialized, and every tensor as the library's own init
would have it (the same comparison as for a model built on the CPU)."""

from __future__ import annotations

import pytest
import torch
from _compare import judge
from ecosystem_models import MODELS

from torchinit import health_check, materialize, tied_parameters


@pytest.mark.parametrize("name", list(MODELS))
def test_a_model_built_on_meta_materializes_from_its_preset_as_the_library_initializes_it(name: str) -> None:
    case = MODELS[name]
    torch.manual_seed(1)
    reference = case.build()
    with torch.device("meta"):
        model = case.build()
    ties = tied_parameters(model)  # GPT-2's and T5's LM heads share the embedding
    report = materialize(model, "cpu", init_cfg=case.preset(), seed=0)
    assert health_check(model, report, ties=ties).ok
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    assert left == []
    result = judge(reference, model, report)
    assert result.problems == [], "\n".join(result.problems)

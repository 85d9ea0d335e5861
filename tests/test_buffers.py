"""Rules reach buffers: ``buffer='position_ids'`` with Arange, Constant or FromModule.

Hugging Face models keep ``position_ids`` (an arange), ``token_type_ids`` (zeros) and rotary
``inv_freq`` in buffers; built on the meta device they must be filled by something before
``materialize`` lets the model out.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import torchinit
from torchinit import ConfigTypeError, ConfigValueError, InitWarning, initialize, materialize


class Embeddings(nn.Module):
    def __init__(self, max_len: int = 8) -> None:
        super().__init__()
        self.word = nn.Embedding(10, 4)
        self.register_buffer("position_ids", torch.arange(max_len).expand((1, -1)), persistent=False)
        self.register_buffer("token_type_ids", torch.zeros((1, max_len), dtype=torch.long), persistent=False)


class Rotary(nn.Module):
    def __init__(self, dim: int = 8, base: float = 10000.0) -> None:
        super().__init__()
        self.dim, self.base = dim, base
        self.register_buffer("inv_freq", 1.0 / base ** (torch.arange(0, dim, 2).float() / dim), persistent=False)


def inv_freq(m: nn.Module) -> torch.Tensor:
    return 1.0 / m.base ** (torch.arange(0, m.dim, 2).float() / m.dim)


RULES: list[dict[str, Any]] = [
    dict(type="Normal", std=0.02, layer="Embedding"),
    dict(type="Arange", buffer="position_ids", layer="Embeddings"),
    dict(type="Constant", val=0, buffer="token_type_ids"),
    dict(type="FromModule", fn=inv_freq, buffer="inv_freq", layer="Rotary"),
]


def test_buffer_rules_fill_an_arange_zeros_and_a_computed_buffer() -> None:
    model = nn.Sequential(Embeddings(), Rotary())
    reference = nn.Sequential(Embeddings(), Rotary())
    with torch.no_grad():
        for b in model.buffers():
            b.fill_(7)
    report = initialize(model, RULES)
    for name, value in reference.named_buffers():
        assert torch.equal(dict(model.named_buffers())[name], value), name
    assert report["0.position_ids"].describe().startswith("Arange(dim=-1, start=0, step=1)")
    assert report["1.inv_freq"].describe().startswith("FromModule(fn=inv_freq)")


def test_a_meta_built_model_with_buffers_materializes_when_rules_cover_them() -> None:
    with torch.device("meta"):
        model = nn.Sequential(Embeddings(), Rotary())
    with pytest.raises(torchinit.InitStateError, match="position_ids"):
        materialize(model, init_cfg=RULES[:1])
    assert model[0].position_ids.is_meta
    materialize(model, init_cfg=RULES, seed=0)
    assert torch.equal(model[0].position_ids, torch.arange(8).expand((1, -1)))
    assert torch.equal(model[1].inv_freq, Rotary().inv_freq)


def test_a_buffer_or_param_name_that_matches_nothing_warns_with_the_close_name() -> None:
    model = nn.Sequential(Embeddings())
    with pytest.warns(InitWarning, match="Did you mean 'position_ids'"):
        initialize(model, dict(type="Arange", buffer="positon_ids"))
    with pytest.warns(InitWarning, match="Did you mean 'weight'"):
        initialize(model, dict(type="Normal", param="wieght"))


def test_random_fills_bias_and_bad_fns_on_buffers_are_refused_before_anything_is_written() -> None:
    model = nn.Sequential(Embeddings(), Rotary())
    before = {k: v.clone() for k, v in model.named_buffers()}
    with pytest.raises(ConfigValueError, match="position_ids.*random fills need a floating-point"):
        initialize(model, dict(type="Normal", buffer="position_ids"))
    with pytest.raises(ConfigValueError, match="bias/bias_prob cannot be combined with buffer"):
        initialize(model, dict(type="Constant", val=0, bias=1, buffer="token_type_ids"))
    with pytest.raises(ConfigValueError, match="does not fit the tensor's shape"):
        initialize(model, dict(type="FromModule", fn=lambda m: torch.zeros(3), buffer="inv_freq"))
    with pytest.raises(ConfigValueError, match="raised division by zero"):
        initialize(model, dict(type="FromModule", fn=lambda m: 1 / 0, buffer="inv_freq"))
    with pytest.raises(ConfigTypeError, match="buffer must be a buffer name or glob"):
        initialize(model, dict(type="Constant", val=0, buffer=3))
    with pytest.raises(ConfigValueError, match="start and step must be whole numbers"):
        initialize(model, dict(type="Arange", start=0.5, buffer="position_ids"))
    for k, v in model.named_buffers():
        assert torch.equal(v, before[k]), k

"""The Hugging Face presets on small models with transformers' module names, against each
model's ``_init_weights`` written here from its published code (``make test-ecosystem``
compares them with transformers itself): every tensor and buffer covered, each as the
reference leaves it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from _helpers import one_thread  # noqa: F401  (autouse fixture)
from test_presets import assert_same_scheme
from torch import nn

from torchinit import OverrideNameError, initialize, materialize, presets


def _away(model: nn.Module) -> nn.Module:
    """Every parameter away from the values any scheme sets."""
    for p in model.parameters():
        p.data.fill_(3.0)
    return model


# --------------------------------------------------------------------------- Llama
class LlamaRMSNorm(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))


class LlamaRotaryEmbedding(nn.Module):
    def __init__(self, config: SimpleNamespace) -> None:
        super().__init__()
        self.config, self.rope_type = config, "default"
        inv_freq, _ = self.compute_default_rope_parameters(config)
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.register_buffer("original_inv_freq", inv_freq.clone(), persistent=False)

    @staticmethod
    def compute_default_rope_parameters(config: SimpleNamespace) -> tuple[torch.Tensor, float]:
        dim = config.head_dim
        return 1.0 / (config.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float) / dim)), 1.0


class Llama(nn.Module):
    def __init__(self, dim: int = 64, layers: int = 2) -> None:
        super().__init__()
        config = SimpleNamespace(head_dim=16, rope_theta=10000.0)
        attn = ["q_proj", "k_proj", "v_proj", "o_proj"]
        self.model = nn.ModuleDict(dict(
            embed_tokens=nn.Embedding(300, dim, padding_idx=2),
            layers=nn.ModuleList([nn.ModuleDict(dict(
                self_attn=nn.ModuleDict({n: nn.Linear(dim, dim, bias=False) for n in attn}),
                input_layernorm=LlamaRMSNorm(dim),
            )) for _ in range(layers)]),
            norm=LlamaRMSNorm(dim),
            rotary_emb=LlamaRotaryEmbedding(config),
        ))
        self.lm_head = nn.Linear(dim, 300, bias=False)


def llama_reference(model: nn.Module) -> None:
    """``PreTrainedModel._init_weights`` (transformers 5) as it applies to Llama's modules."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)
            m.weight[m.padding_idx].zero_()
        elif isinstance(m, LlamaRMSNorm):
            nn.init.ones_(m.weight)
        elif isinstance(m, LlamaRotaryEmbedding):
            value, _ = m.compute_default_rope_parameters(m.config)
            m.inv_freq.copy_(value)
            m.original_inv_freq.copy_(value)


def test_llama_init_matches_hugging_face_with_the_rotary_buffers_it_computes() -> None:
    model = _away(Llama())
    for b in model.buffers():
        b.fill_(7.0)
    report = assert_same_scheme(model, presets.llama_init(), llama_reference)
    assert report.by_source("none") == []
    assert report["model.rotary_emb.inv_freq"].describe().startswith("FromModule(fn=hf_rope_inv_freq)")


def test_a_llama_built_on_meta_materializes_from_the_preset_alone() -> None:
    with torch.device("meta"):
        model = Llama()
    materialize(model, "cpu", init_cfg=presets.llama_init(), seed=0)
    rotary = model.model["rotary_emb"]
    assert torch.equal(rotary.inv_freq, rotary.compute_default_rope_parameters(rotary.config)[0])
    assert bool((model.model["norm"].weight == 1).all())


# --------------------------------------------------------------------------- T5
class T5LayerNorm(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))


def _t5_stack(d: int, inner: int, ff: int, blocks: int, cross: bool) -> nn.Module:
    def attention(bias: bool) -> nn.Module:
        parts = {n: nn.Linear(d, inner, bias=False) for n in "qkv"} | {"o": nn.Linear(inner, d, bias=False)}
        if bias:
            parts["relative_attention_bias"] = nn.Embedding(32, 4)
        return nn.ModuleDict(parts)

    def block(i: int) -> nn.Module:
        layer = [nn.ModuleDict(dict(SelfAttention=attention(i == 0), layer_norm=T5LayerNorm(d)))]
        if cross:
            layer.append(nn.ModuleDict(dict(EncDecAttention=attention(False), layer_norm=T5LayerNorm(d))))
        layer.append(nn.ModuleDict(dict(
            DenseReluDense=nn.ModuleDict(dict(wi=nn.Linear(d, ff, bias=False), wo=nn.Linear(ff, d, bias=False))),
            layer_norm=T5LayerNorm(d),
        )))
        return nn.ModuleDict(dict(layer=nn.ModuleList(layer)))

    return nn.ModuleDict(dict(block=nn.ModuleList([block(i) for i in range(blocks)]),
                              final_layer_norm=T5LayerNorm(d)))


class T5(nn.Module):
    """T5ForConditionalGeneration's names: d_model 64, 4 heads of d_kv 16, d_ff 128, untied head."""

    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Embedding(200, 64)
        self.encoder = _t5_stack(64, 64, 128, 2, cross=False)
        self.decoder = _t5_stack(64, 64, 128, 2, cross=True)
        self.lm_head = nn.Linear(64, 200, bias=False)


def t5_reference(model: nn.Module, d_model: int = 64, d_kv: int = 16, d_ff: int = 128, heads: int = 4) -> None:
    """``T5PreTrainedModel._init_weights`` with initializer_factor 1."""
    for name, m in model.named_modules():
        leaf = name.rpartition(".")[2]
        if leaf == "q":
            nn.init.normal_(m.weight, std=(d_model * d_kv) ** -0.5)
        elif leaf in ("k", "v", "wi"):
            nn.init.normal_(m.weight, std=d_model**-0.5)
        elif leaf == "o":
            nn.init.normal_(m.weight, std=(heads * d_kv) ** -0.5)
        elif leaf == "wo":
            nn.init.normal_(m.weight, std=d_ff**-0.5)
        elif leaf == "relative_attention_bias":
            nn.init.normal_(m.weight, std=d_model**-0.5)
        elif isinstance(m, T5LayerNorm):
            nn.init.ones_(m.weight)
    nn.init.normal_(model.shared.weight, std=1.0)
    nn.init.normal_(model.lm_head.weight, std=1.0)


def test_t5_init_matches_hugging_face_query_scaling_and_all() -> None:
    report = assert_same_scheme(_away(T5()), presets.t5_init(d_model=64, d_kv=16), t5_reference)
    assert report.by_source("none") == []


def test_t5_init_without_a_head_for_an_encoder_only_model() -> None:
    model = T5()
    del model.decoder, model.lm_head
    with pytest.raises(OverrideNameError, match="lm_head"):
        initialize(model, presets.t5_init(d_model=64, d_kv=16))
    assert initialize(model, presets.t5_init(d_model=64, d_kv=16, lm_head=None)).by_source("none") == []


# --------------------------------------------------------------------------- ViT
class ViTEmbeddings(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.position_embeddings = nn.Parameter(torch.zeros(1, 17, dim))
        self.patch_embeddings = nn.ModuleDict(dict(projection=nn.Conv2d(3, dim, 8, stride=8)))


class HfViT(nn.Module):
    def __init__(self, dim: int = 64) -> None:
        super().__init__()
        self.vit = nn.ModuleDict(dict(
            embeddings=ViTEmbeddings(dim),
            layers=nn.ModuleList([nn.ModuleDict(dict(
                attention=nn.ModuleDict({n: nn.Linear(dim, dim) for n in ("q_proj", "k_proj", "v_proj", "o_proj")}),
                layernorm_before=nn.LayerNorm(dim),
            ))]),
        ))
        self.classifier = nn.Linear(dim, 10)


def hf_vit_reference(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, ViTEmbeddings):
            nn.init.trunc_normal_(m.position_embeddings, std=0.02)
            nn.init.trunc_normal_(m.cls_token, std=0.02)


def test_hf_vit_init_matches_hugging_face() -> None:
    report = assert_same_scheme(_away(HfViT()), presets.hf_vit_init(), hf_vit_reference)
    assert report.by_source("none") == []

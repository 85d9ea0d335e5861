"""The Hugging Face presets: BERT, GPT-2, Llama, T5 and ViT as their ``_init_weights`` leave them.

Hugging Face models initialize in ``post_init()`` at the end of their constructor: each
module through the model's ``_init_weights``. These presets are those methods as rules
(transformers 5), buffers included (``position_ids``, ``token_type_ids``, rotary
``inv_freq``), so that a model built on the meta device can be materialized from them.
Nothing here imports transformers. Re-exported by :mod:`torchinit.presets`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ._presets_torch import Rule

__all__ = ["bert_init", "gpt2_init", "hf_rope_inv_freq", "hf_vit_init", "llama_init", "t5_init"]


def _transformer(std: float) -> list[Rule]:
    """The base ``PreTrainedModel._init_weights``: Linear and Embedding N(0, std²), LayerNorm 1/0."""
    return [
        dict(type="Normal", layer="Linear", std=std, bias=0),
        dict(type="EmbeddingNormal", layer="Embedding", std=std),
        dict(type="Constant", layer="LayerNorm", val=1, bias=0),
    ]


def bert_init(std: float = 0.02, *, buffers: bool = True) -> list[Rule]:
    """BERT's init (Devlin et al. 2019), as Hugging Face's ``BertPreTrainedModel._init_weights``.

    Linear: N(0, std²) weight, zero bias. Embedding: N(0, std²) with the ``padding_idx``
    row zeroed (:class:`~torchinit.EmbeddingNormal`). LayerNorm: weight 1, bias 0. The
    embeddings' buffers: ``position_ids`` 0, 1, 2, ... and ``token_type_ids`` 0.

    Args:
        std: ``initializer_range`` of the config (0.02).
        buffers: include the two buffer rules (a BERT-like model without them: False).
    """
    rules = _transformer(std)
    if buffers:
        rules += [dict(type="Arange", buffer="position_ids"), dict(type="Zeros", buffer="token_type_ids")]
    return rules


def gpt2_init(
    std: float = 0.02,
    *,
    residual: Sequence[str] = ("transformer.h.*.attn.c_proj", "transformer.h.*.mlp.c_proj"),
    projections: Sequence[str] = ("transformer.h.*.attn.c_attn", "transformer.h.*.mlp.c_fc"),
) -> list[Rule]:
    """GPT-2's init (Radford et al. 2019), as Hugging Face's ``GPT2PreTrainedModel`` and nanoGPT.

    Linear and Embedding N(0, std²) with zero biases, LayerNorm 1/0; the attention and MLP
    projections (Hugging Face's ``Conv1D`` layers, nanoGPT's Linear) reached by their paths,
    whatever their class: N(0, std²) with zero bias, and the residual projections (the last
    of each attention and MLP branch) N(0, (std / √(2·n_layer))²)
    (:class:`~torchinit.DepthScaledNormal`, ``n_layer`` being the length of the block list
    that holds them) with zero bias.

    Args:
        std: ``initializer_range`` (0.02).
        residual: paths of the residual projections (nanoGPT's and Hugging Face's names).
        projections: paths of the other projections.

    An empty ``residual`` or ``projections`` leaves those rules out.
    """
    rules = _transformer(std)
    if projections:
        rules.append(dict(type="Normal", std=std, bias=0, override=[dict(name=name) for name in projections]))
    if residual:
        rules.append(
            dict(
                type="DepthScaledNormal",
                std=std,
                depth="blocks",
                bias=0,
                override=[dict(name=name) for name in residual],
            )
        )
    return rules


def hf_rope_inv_freq(module: nn.Module) -> Tensor:
    """The ``inv_freq`` a Hugging Face rotary embedding computes from its config (for ``FromModule``).

    As ``_init_weights`` does: the module's ``compute_default_rope_parameters`` (or
    ``compute_<rope_type>_rope_parameters``), else transformers' ``ROPE_INIT_FUNCTIONS``
    for its ``rope_type`` (linear, dynamic, yarn, llama3, ...).
    """
    rope_type = getattr(module, "rope_type", "default")
    compute: Any = getattr(module, f"compute_{rope_type}_rope_parameters", None)
    if compute is None:
        from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

        compute = ROPE_INIT_FUNCTIONS[rope_type]
    inv_freq, _ = compute(module.config)
    return inv_freq


def llama_init(
    std: float = 0.02, *, norm: str = "LlamaRMSNorm", rotary: str = "LlamaRotaryEmbedding"
) -> list[Rule]:
    """Llama's init, as Hugging Face's ``LlamaPreTrainedModel`` (the base ``_init_weights``).

    Linear N(0, std²) with zero biases; Embedding N(0, std²) with the padding row zero; the
    RMSNorm weights 1; the rotary embedding's ``inv_freq`` and ``original_inv_freq`` as it
    computes them (:func:`hf_rope_inv_freq`). For Mistral, Qwen2 and other Llama-like models
    pass their class names (``norm='Qwen2RMSNorm', rotary='Qwen2RotaryEmbedding'``).

    Args:
        std: ``initializer_range`` (0.02).
        norm: class name of the model's RMSNorm.
        rotary: class name of the model's rotary embedding.
    """
    return [
        dict(type="Normal", layer="Linear", std=std, bias=0),
        dict(type="EmbeddingNormal", layer="Embedding", std=std),
        dict(type="Constant", layer=norm, val=1),
        dict(type="FromModule", fn=hf_rope_inv_freq, layer=rotary, buffer=["inv_freq", "original_inv_freq"]),
    ]


def t5_init(
    *,
    d_model: int = 512,
    d_kv: int = 64,
    factor: float = 1.0,
    lm_head: str | None = "lm_head",
    norm: str = "T5LayerNorm",
) -> list[Rule]:
    """T5's init (Raffel et al. 2020; Mesh TensorFlow's), as Hugging Face's ``T5PreTrainedModel``.

    Every Linear N(0, factor²/fan_in) (attention k, v, o; the feed-forward wi and wo), except
    the attention queries, N(0, factor²/(d_model·d_kv)); the shared embedding and the LM head
    N(0, factor²); the relative attention bias N(0, factor²/d_model); the layer norms'
    weight ``factor``.

    Args:
        d_model, d_kv: the config's ``d_model`` and ``d_kv`` (T5's defaults 512 and 64).
        factor: ``initializer_factor`` (1.0).
        lm_head: path of the LM head (None for an encoder-only model).
        norm: class name of the layer norm.
    """
    rules: list[Rule] = [
        dict(type="Normal", layer="Embedding", std=factor),
        dict(
            type="VarianceScaling",
            layer="Linear",
            scale=factor**2,
            mode="fan_in",
            distribution="normal",
            bias=0,
        ),
        dict(
            type="Normal", std=factor * (d_model * d_kv) ** -0.5, override=dict(name="*.block.*.layer.*.*.q")
        ),
        dict(
            type="Normal",
            std=factor * d_model**-0.5,
            override=dict(name="*.block.0.layer.0.SelfAttention.relative_attention_bias"),
        ),
        dict(type="Constant", layer=norm, val=factor),
    ]
    if lm_head is not None:
        rules.append(dict(type="Normal", std=factor, override=dict(name=lm_head)))
    return rules


def hf_vit_init(std: float = 0.02, *, mask_token: bool = False) -> list[Rule]:
    """ViT's init as Hugging Face's ``ViTPreTrainedModel._init_weights`` (transformers 5).

    Linear and the patch embedding's Conv2d N(0, std²) with zero biases; LayerNorm 1/0;
    ``cls_token`` and ``position_embeddings`` N(0, std²) cut at ±2 (absolute bounds, as
    ``trunc_normal_``); ``mask_token`` zero.

    Args:
        std: ``initializer_range`` (0.02).
        mask_token: the model has a mask token (``use_mask_token=True``).
    """
    rules = [
        dict(type="Normal", layer=["Linear", "Conv2d"], std=std, bias=0),
        dict(type="Constant", layer="LayerNorm", val=1, bias=0),
        dict(type="TruncNormal", std=std, param=["cls_token", "position_embeddings"]),
    ]
    if mask_token:
        rules.append(dict(type="Zeros", param="mask_token"))
    return rules

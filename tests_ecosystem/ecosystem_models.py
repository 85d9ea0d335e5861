"""The models of the ecosystem suite: each built by its library from a small config, no weights.

``MODELS`` maps a name to how to build the model (``build(**kwargs)``, called under any
``torch.device``) and the preset that names its scheme. The configs are small (two blocks,
narrow widths) but keep every kind of layer and tensor the full model has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from torchinit import presets


@dataclass(frozen=True)
class Case:
    """A model of a library and the preset that reproduces its init."""

    library: str
    build: Callable[[], nn.Module]
    preset: Callable[[], list[dict[str, Any]]]


def timm_model(name: str, **kwargs: Any) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import timm

        return timm.create_model(name, pretrained=False, **kwargs)

    return build


VIT = dict(depth=2, embed_dim=64, num_heads=2, img_size=32, patch_size=8, num_classes=10)


def hf_model(cls: str, config: str, **kwargs: Any) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import transformers

        return getattr(transformers, cls)(getattr(transformers, config)(**kwargs))

    return build


BERT = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=64, pad_token_id=0)
GPT2 = dict(vocab_size=100, n_embd=32, n_layer=3, n_head=2, n_positions=64, bos_token_id=1, eos_token_id=2)
LLAMA = dict(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
             num_key_value_heads=1, max_position_embeddings=64, pad_token_id=0)
T5 = dict(vocab_size=100, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, decoder_start_token_id=0)
HF_VIT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32,
              patch_size=8, num_labels=10)

MODELS: dict[str, Case] = {
    "timm ViT (default)": Case("timm", timm_model("vit_base_patch16_224", **VIT), lambda: presets.timm_vit_init()),
    "timm ViT (jax)": Case("timm", timm_model("vit_base_patch16_224", weight_init="jax", **VIT),
                           lambda: presets.timm_vit_init("jax")),
    "timm ViT (moco)": Case("timm", timm_model("vit_base_patch16_224", weight_init="moco", **VIT),
                            lambda: presets.timm_vit_init("moco")),
    "timm ConvNeXt-T": Case("timm", timm_model("convnext_tiny", depths=(1, 1, 1, 1), dims=(16, 32, 64, 128),
                                               num_classes=10), presets.timm_convnext_init),
    "timm ResNet-50": Case("timm", timm_model("resnet50", layers=(1, 1, 1, 1), num_classes=10),
                           presets.timm_resnet_init),
    "timm EfficientNet-B0": Case("timm", timm_model("efficientnet_b0", num_classes=10),
                                 presets.timm_efficientnet_init),
    "HF BERT": Case("transformers", hf_model("BertModel", "BertConfig", **BERT), presets.bert_init),
    "HF BERT for classification": Case("transformers", hf_model("BertForSequenceClassification", "BertConfig", **BERT),
                                       presets.bert_init),
    "HF BERT masked LM": Case("transformers", hf_model("BertForMaskedLM", "BertConfig", **BERT), presets.bert_init),
    "HF GPT-2": Case("transformers", hf_model("GPT2LMHeadModel", "GPT2Config", **GPT2), presets.gpt2_init),
    "HF Llama": Case("transformers", hf_model("LlamaForCausalLM", "LlamaConfig", **LLAMA), presets.llama_init),
    "HF T5": Case("transformers", hf_model("T5ForConditionalGeneration", "T5Config", **T5),
                  lambda: presets.t5_init(d_model=32, d_kv=8)),
    "HF ViT": Case("transformers", hf_model("ViTForImageClassification", "ViTConfig", **HF_VIT), presets.hf_vit_init),
}

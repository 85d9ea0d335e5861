"""Presets: ``init_cfg`` lists that reproduce well-known initialization schemes exactly.

Each function returns plain rule dicts, to use as a model's ``init_cfg``, with
:func:`torchinit.initialize` or :func:`torchinit.materialize`, or in a config file of the
``torchinit`` command, and to read, print or extend like any config::

    initialize(model, presets.timm_vit_init('jax'), seed=0)

Each preset covers every parameter and buffer of the model it names (the ecosystem tests
build those models from their libraries and compare tensor by tensor):

* timm: :func:`timm_vit_init` (modes ``''``, ``'jax'``, ``'moco'``), :func:`timm_convnext_init`,
  :func:`timm_resnet_init`, :func:`timm_efficientnet_init`;
* Hugging Face: :func:`bert_init`, :func:`gpt2_init`, :func:`llama_init`, :func:`t5_init`,
  :func:`hf_vit_init`;
* torchvision: :func:`torchvision_resnet_init`; and :func:`zero_init` for any model.

Names of submodules (``head``, ``'blocks.*.mlp'``) default to those of the reference
implementation and can be changed; ``*`` matches one level of a dotted path.
"""

from __future__ import annotations

from ._presets_hf import bert_init, gpt2_init, hf_rope_inv_freq, hf_vit_init, llama_init, t5_init
from ._presets_timm import (
    timm_convnext_init,
    timm_efficientnet_init,
    timm_resnet_init,
    timm_vit_init,
    timm_vit_jax_init,
)
from ._presets_torch import Rule as Rule  # the type of a rule dict, for annotations
from ._presets_torch import residual_block as residual_block
from ._presets_torch import torchvision_resnet_init, zero_init

__all__ = [
    "bert_init",
    "gpt2_init",
    "hf_rope_inv_freq",
    "hf_vit_init",
    "llama_init",
    "t5_init",
    "timm_convnext_init",
    "timm_efficientnet_init",
    "timm_resnet_init",
    "timm_vit_init",
    "timm_vit_jax_init",
    "torchvision_resnet_init",
    "zero_init",
]

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

from typing import Any, Literal

from .errors import ConfigTypeError, ConfigValueError

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

Rule = dict[str, Any]


def zero_init(*names: str, bias: float = 0.0) -> Rule:
    """A rule that zeroes every weight of the named submodules and sets their biases to ``bias``.

    The last layer of each residual branch (Goyal et al. 2017, Accurate, Large Minibatch
    SGD: each block starts as the identity) or a classifier head (the ViT, Fixup and
    SkipInit recipes). Put it after the rules it overrides: a later rule wins.

    Args:
        names: submodule paths or patterns (``'head'``, ``'layer?.*.bn3'``).
        bias: the value of their biases.

    Example:
        >>> zero_init('head')
        {'type': 'Zeros', 'bias': 0.0, 'override': [{'name': 'head'}]}
    """
    if not names:
        raise ConfigTypeError("zero_init needs at least one submodule name, e.g. zero_init('head').")
    return dict(type="Zeros", bias=bias, override=[dict(name=name) for name in names])


def residual_block(block: str) -> str:
    """The last norm of a ResNet block: ``bn3`` of a Bottleneck, ``bn2`` of a BasicBlock."""
    if block not in ("Bottleneck", "BasicBlock"):
        raise ConfigValueError(f"block must be 'Bottleneck' or 'BasicBlock', got {block!r}.")
    return "bn3" if block == "Bottleneck" else "bn2"


def torchvision_resnet_init(
    zero_init_residual: bool = False,
    *,
    block: Literal["Bottleneck", "BasicBlock"] = "Bottleneck",
    stages: str = "layer?",
) -> list[Rule]:
    """torchvision's ResNet init (He et al. 2016), including ``zero_init_residual``.

    As ``torchvision.models.ResNet.__init__``: Conv2d weights Kaiming-normal with fan_out
    and relu (conv biases untouched), BatchNorm2d and GroupNorm weight 1 and bias 0, Linear
    left at its default (``reset_parameters``). With ``zero_init_residual``, the last norm
    of each residual block (``bn3`` of a Bottleneck, ``bn2`` of a BasicBlock) starts at 0, so
    that each block starts as the identity (Goyal et al. 2017).

    Args:
        zero_init_residual: zero the last norm of every block (torchvision's default: off).
        block: the block type of the network: ``'Bottleneck'`` (ResNet-50 and up) or
            ``'BasicBlock'`` (ResNet-18, -34).
        stages: pattern of the stage paths holding the blocks.
    """
    last = residual_block(block)
    rules: list[Rule] = [
        dict(
            type="Kaiming",
            layer="Conv2d",
            param="weight",
            mode="fan_out",
            nonlinearity="relu",
            distribution="normal",
        ),
        dict(type="Constant", layer=["BatchNorm2d", "GroupNorm"], val=1, bias=0),
    ]
    if zero_init_residual:
        rules.append(zero_init(f"{stages}.*.{last}"))
    return rules


# The library-specific presets; they use the helpers above.
from ._presets_hf import bert_init, gpt2_init, hf_rope_inv_freq, hf_vit_init, llama_init, t5_init  # noqa: E402
from ._presets_timm import (  # noqa: E402
    timm_convnext_init,
    timm_efficientnet_init,
    timm_resnet_init,
    timm_vit_init,
    timm_vit_jax_init,
)

"""Presets: ``init_cfg`` lists that reproduce well-known initialization schemes exactly.

Each function returns plain rule dicts, to use as a model's ``init_cfg`` or with
:func:`torchinit.initialize`, and to read, print or extend like any config::

    initialize(model, presets.torchvision_resnet_init(zero_init_residual=True), seed=0)

Names of submodules (``head``, ``'blocks.*.mlp'``) default to those of the reference
implementation and can be changed; ``*`` matches one level of a dotted path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from .errors import ConfigTypeError, ConfigValueError

__all__ = ["bert_init", "gpt2_init", "timm_vit_jax_init", "torchvision_resnet_init", "zero_init"]

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


def bert_init(std: float = 0.02) -> list[Rule]:
    """BERT's init (Devlin et al. 2019), as Hugging Face's ``BertPreTrainedModel._init_weights``.

    Linear: N(0, std²) weight, zero bias. Embedding: N(0, std²) with the ``padding_idx``
    row zeroed (:class:`~torchinit.EmbeddingNormal`). LayerNorm: weight 1, bias 0.

    Args:
        std: ``initializer_range`` of the config (0.02).
    """
    return [
        dict(type="Normal", layer="Linear", std=std, bias=0),
        dict(type="EmbeddingNormal", layer="Embedding", std=std),
        dict(type="Constant", layer="LayerNorm", val=1, bias=0),
    ]


def gpt2_init(
    std: float = 0.02,
    *,
    residual: Sequence[str] = ("transformer.h.*.attn.c_proj", "transformer.h.*.mlp.c_proj"),
) -> list[Rule]:
    """GPT-2's init (Radford et al. 2019), as nanoGPT and Hugging Face's ``GPT2PreTrainedModel``.

    :func:`bert_init`'s rules, and the residual projections (the last Linear of each
    attention and MLP branch) drawn from N(0, (std / √(2·n_layer))²)
    (:class:`~torchinit.DepthScaledNormal`, ``n_layer`` being the length of the block list
    that holds them) with zero bias.

    Args:
        std: ``initializer_range`` (0.02).
        residual: paths of the residual projections (nanoGPT's and Hugging Face's names).
    """
    return [
        *bert_init(std),
        dict(type="DepthScaledNormal", std=std, depth="blocks", bias=0,
             override=[dict(name=name) for name in residual]),
    ]


def timm_vit_jax_init(
    *, head_bias: float = 0.0, head: str = "head", mlp: str = "blocks.*.mlp"
) -> list[Rule]:
    """timm's ViT ``init_weights(mode='jax')``: the init of the original JAX (Flax) ViT.

    Dosovitskiy et al. (2021), An Image is Worth 16x16 Words; timm's
    ``VisionTransformer.init_weights`` with ``init_weights_vit_jax``:

    * Linear: Xavier-uniform weight, zero bias; inside the MLPs the biases are
      N(0, 10⁻¹²) instead; the head gets weight 0 and bias ``head_bias``;
    * Conv2d (the patch embedding): LeCun normal weight, zero bias;
    * LayerNorm: weight 1, bias 0;
    * ``pos_embed``: N(0, 0.02²) (timm's ``trunc_normal_(std=.02)``, whose absolute ±2
      bounds cut nothing); ``cls_token`` and ``reg_token``: N(0, 10⁻¹²).

    Args:
        head_bias: the head's bias; timm's ``'jax_nlhb'`` mode uses ``-log(num_classes)``.
        head: path of the classifier head (everything under it is zeroed).
        mlp: path pattern of the MLPs whose biases get N(0, 10⁻¹²).
    """
    return [
        dict(type="Xavier", layer="Linear", distribution="uniform", bias=0,
             override=[dict(name=mlp, type="Normal", std=1e-6, param="bias"),
                       dict(name=head, type="Zeros", bias=head_bias)]),
        dict(type="LeCunNormal", layer="Conv2d", bias=0),
        dict(type="Constant", layer="LayerNorm", val=1, bias=0),
        dict(type="TruncNormal", std=0.02, param="pos_embed"),
        dict(type="Normal", std=1e-6, param=["cls_token", "reg_token"]),
    ]


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
    if block not in ("Bottleneck", "BasicBlock"):
        raise ConfigValueError(f"block must be 'Bottleneck' or 'BasicBlock', got {block!r}.")
    rules: list[Rule] = [
        dict(type="Kaiming", layer="Conv2d", param="weight", mode="fan_out", nonlinearity="relu",
             distribution="normal"),
        dict(type="Constant", layer=["BatchNorm2d", "GroupNorm"], val=1, bias=0),
    ]
    if zero_init_residual:
        rules.append(zero_init(f"{stages}.*.{'bn3' if block == 'Bottleneck' else 'bn2'}"))
    return rules

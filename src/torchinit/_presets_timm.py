"""The timm presets: ViT (its default, 'jax' and 'moco' modes), ConvNeXt, ResNet, EfficientNet.

Each reproduces what the timm model's constructor leaves in every tensor (its
``init_weights`` with the model's defaults), as rules. Where timm keeps PyTorch's default
(a ViT's patch embedding, a ResNet's classifier, BatchNorm as built), the preset says so
with a ``TorchDefault`` rule, so that every tensor is covered (a model built on the meta
device needs that). Re-exported by :mod:`torchinit.presets`.
"""

from __future__ import annotations

import math
from typing import Literal

from ._presets_torch import Rule, residual_block, zero_init
from .errors import ConfigValueError

__all__ = [
    "timm_convnext_init",
    "timm_efficientnet_init",
    "timm_resnet_init",
    "timm_vit_init",
    "timm_vit_jax_init",
]

VIT_MODES = ("", "jax", "moco")


def _vit_linear(mode: str, head_bias: float, head: str, mlp: str, qkv: str) -> Rule:
    """The Linear rule of each ViT mode, with its overrides."""
    if mode == "jax":
        return dict(
            type="Xavier",
            layer="Linear",
            distribution="uniform",
            bias=0,
            override=[
                dict(name=mlp, type="Normal", std=1e-6, param="bias"),
                dict(name=head, type="Zeros", bias=head_bias),
            ],
        )
    if mode == "moco":
        # the qkv weight (3·dim × dim) is three dim × dim matrices: Xavier of each is √2 × Xavier of the whole
        return dict(
            type="Xavier",
            layer="Linear",
            distribution="uniform",
            bias=0,
            override=dict(name=qkv, type="Xavier", gain=math.sqrt(2), distribution="uniform", bias=0),
        )
    return dict(type="TruncNormal", layer="Linear", std=0.02, bias=0)


def timm_vit_init(
    mode: Literal["", "jax", "moco"] = "",
    *,
    head_bias: float = 0.0,
    head: str = "head",
    mlp: str = "blocks.*.mlp",
    qkv: str = "blocks.*.attn.qkv",
) -> list[Rule]:
    """timm's ``VisionTransformer.init_weights(mode)``, the init a timm ViT is built with.

    Dosovitskiy et al. (2021), An Image is Worth 16x16 Words; timm's
    ``init_weights_vit_timm`` / ``_jax`` / ``_moco``. In every mode ``pos_embed`` is
    N(0, 0.02²) (timm's ``trunc_normal_(std=.02)``, whose absolute ±2 bounds cut nothing),
    ``cls_token`` and ``reg_token`` N(0, 10⁻¹²), LayerNorm weight 1 and bias 0, and:

    * ``''`` (timm's default): Linear weights N(0, 0.02²) cut at ±2, zero biases; the patch
      embedding's Conv2d keeps PyTorch's default (``TorchDefault``);
    * ``'jax'``: Linear Xavier-uniform with zero bias (MLP biases N(0, 10⁻¹²)), the head
      zeroed with bias ``head_bias``, the patch embedding LeCun normal with zero bias;
    * ``'moco'`` (MoCo v3): Linear Xavier-uniform with zero bias, the qkv projection as
      three separate square matrices, the patch embedding at PyTorch's default.

    Args:
        mode: timm's ``weight_init`` argument.
        head_bias: the head's bias in 'jax' mode; timm's ``'jax_nlhb'`` is ``-log(num_classes)``.
        head: path of the classifier head ('jax').
        mlp: path pattern of the MLPs whose biases get N(0, 10⁻¹²) ('jax').
        qkv: path pattern of the qkv projections ('moco').
    """
    if mode not in VIT_MODES:
        raise ConfigValueError(
            f"timm_vit_init: mode must be one of {', '.join(map(repr, VIT_MODES))}, got {mode!r} "
            "(for 'jax_nlhb' use mode='jax', head_bias=-math.log(num_classes))."
        )
    conv: Rule = (
        dict(type="LeCunNormal", layer="Conv2d", bias=0)
        if mode == "jax"
        else dict(type="TorchDefault", layer="Conv2d")
    )
    return [
        _vit_linear(mode, head_bias, head, mlp, qkv),
        conv,
        dict(type="Constant", layer="LayerNorm", val=1, bias=0),
        dict(type="TruncNormal", std=0.02, param="pos_embed"),
        dict(type="Normal", std=1e-6, param=["cls_token", "reg_token"]),
    ]


def timm_vit_jax_init(*, head_bias: float = 0.0, head: str = "head", mlp: str = "blocks.*.mlp") -> list[Rule]:
    """timm's ViT ``init_weights(mode='jax')``: ``timm_vit_init('jax', ...)`` (see there)."""
    return timm_vit_init("jax", head_bias=head_bias, head=head, mlp=mlp)


def timm_convnext_init(
    *, head_init_scale: float = 1.0, ls_init_value: float | None = 1e-6, head: str = "head.fc"
) -> list[Rule]:
    """timm's ConvNeXt init (Liu et al. 2022, A ConvNet for the 2020s).

    Conv2d and Linear weights N(0, 0.02²) cut at ±2 with zero biases; the head's weight
    scaled by ``head_init_scale``; LayerNorm (and timm's ``LayerNorm2d``) weight 1, bias 0;
    each block's layer scale ``gamma`` equal to ``ls_init_value``.

    Args:
        head_init_scale: the model's ``head_init_scale`` (1.0).
        ls_init_value: the model's ``ls_init_value`` (1e-6); None for a model without layer scale.
        head: path of the classifier's Linear.
    """
    rules: list[Rule] = [dict(type="TruncNormal", layer=["Conv2d", "Linear"], std=0.02, bias=0)]
    if head_init_scale != 1:  # timm scales a draw cut at ±2, 100 of its stds out: a normal
        rules[0]["override"] = dict(name=head, type="Normal", std=0.02 * head_init_scale, bias=0)
    rules.append(dict(type="Constant", layer="LayerNorm", val=1, bias=0))
    if ls_init_value is not None:
        rules.append(dict(type="Constant", val=ls_init_value, param="gamma"))
    return rules


def timm_resnet_init(
    zero_init_last: bool = True,
    *,
    block: Literal["Bottleneck", "BasicBlock"] = "Bottleneck",
    stages: str = "layer?",
) -> list[Rule]:
    """timm's ResNet ``init_weights(zero_init_last)`` (He et al. 2016; Goyal et al. 2017).

    Conv2d weights Kaiming-normal with fan_out and relu; BatchNorm and the classifier at
    PyTorch's default (as built: weight 1, bias 0, fresh running statistics; the Linear
    uniform); with ``zero_init_last`` (timm's default) the last norm of each residual block
    (``bn3`` of a Bottleneck, ``bn2`` of a BasicBlock) starts at 0.

    Args:
        zero_init_last: zero the last norm of every block.
        block: the block type: ``'Bottleneck'`` (ResNet-50 and up) or ``'BasicBlock'``.
        stages: pattern of the stage paths holding the blocks.
    """
    last = residual_block(block)
    rules: list[Rule] = [
        dict(type="TorchDefault", layer=["BatchNorm2d", "Linear"]),
        dict(
            type="Kaiming",
            layer="Conv2d",
            param="weight",
            mode="fan_out",
            nonlinearity="relu",
            distribution="normal",
        ),
    ]
    if zero_init_last:
        rules.append(zero_init(f"{stages}.*.{last}"))
    return rules


def timm_efficientnet_init(*, depthwise: str = "blocks.*.*.conv_dw") -> list[Rule]:
    """timm's EfficientNet / MobileNet init (``_init_weight_goog``: TensorFlow's, Tan & Le 2019).

    Conv2d weights N(0, 2/fan_out) with zero biases, where a depthwise conv's fan_out is its
    kernel area (timm divides by the groups: that is the conv's fan_in, so those convs get
    Kaiming with fan_in); BatchNorm weight 1, bias 0 (as built, running statistics too);
    Linear weights U(±1/sqrt(fan_out)) with zero biases.

    Args:
        depthwise: path pattern of the depthwise convs (``conv_dw`` of timm's blocks).
    """
    kaiming = dict(nonlinearity="relu", distribution="normal", bias=0)
    return [
        dict(
            type="Kaiming",
            layer="Conv2d",
            mode="fan_out",
            **kaiming,
            override=dict(name=depthwise, type="Kaiming", mode="fan_in", **kaiming),
        ),
        dict(type="TorchDefault", layer="BatchNorm2d"),
        dict(
            type="VarianceScaling",
            layer="Linear",
            scale=1 / 3,
            mode="fan_out",
            distribution="uniform",
            bias=0,
        ),
    ]

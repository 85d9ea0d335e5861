"""The presets that need no library: ``zero_init`` and torchvision's ResNet init, and the
``Rule`` type and helpers the timm and Hugging Face presets build on. Re-exported by
:mod:`torchinit.presets`.
"""

from __future__ import annotations

from typing import Any, Literal

from .errors import ConfigTypeError, ConfigValueError

__all__ = ["Rule", "residual_block", "torchvision_resnet_init", "zero_init"]

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

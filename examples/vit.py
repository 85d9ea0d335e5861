"""A ViT-style image classifier (Dosovitskiy et al. (2021), An Image is Worth 16x16 Words).

Registered in ``torchinit.MODELS`` as ``VisionTransformer``. How its Linear, LayerNorm and
Conv2d weights are initialized is the ``init_cfg`` of its config (see :mod:`examples.models`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from torchinit import (
    MODELS,
    BaseModule,
    ConfigValueError,
    build_activation_layer,
    build_conv_layer,
    build_norm_layer,
    trunc_normal_,
)

__all__ = ["Attention", "FeedForward", "TransformerEncoderLayer", "VisionTransformer"]

Cfg = Mapping[str, Any]


class Attention(nn.Module):
    """Multi-head self-attention with a fused ``qkv`` Linear and an output ``proj`` Linear."""

    def __init__(self, embed_dims: int, num_heads: int) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ConfigValueError(f"embed_dims ({embed_dims}) must be divisible by num_heads ({num_heads}).")
        self.num_heads = num_heads
        self.qkv = nn.Linear(embed_dims, 3 * embed_dims)
        self.proj = nn.Linear(embed_dims, embed_dims)

    def forward(self, x: Tensor) -> Tensor:
        batch, tokens, dims = x.shape
        q, k, v = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dims))


class FeedForward(nn.Module):
    """``fc2(act(fc1(x)))``."""

    def __init__(self, embed_dims: int, hidden_dims: int, act_cfg: Cfg) -> None:
        super().__init__()
        self.fc1 = nn.Linear(embed_dims, hidden_dims)
        self.act = build_activation_layer(act_cfg)
        self.fc2 = nn.Linear(hidden_dims, embed_dims)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class TransformerEncoderLayer(nn.Module):
    """Pre-norm block: ``x + attn(ln1(x))``, then ``x + ffn(ln2(x))``."""

    def __init__(
        self, embed_dims: int, num_heads: int, hidden_dims: int, norm_cfg: Cfg, act_cfg: Cfg
    ) -> None:
        super().__init__()
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, embed_dims, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.attn = Attention(embed_dims, num_heads)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, embed_dims, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.ffn = FeedForward(embed_dims, hidden_dims, act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(getattr(self, self.norm1_name)(x))
        return x + self.ffn(getattr(self, self.norm2_name)(x))


@MODELS.register_module()
class VisionTransformer(BaseModule):
    """Patch embedding, a class token, learned position embeddings, encoder layers, a head.

    ``cls_token`` and ``pos_embed`` are not weights of a layer, so no ``layer`` rule reaches
    them; :meth:`reset_parameters` (run on construction) draws them from a normal with
    std 0.02 cut to ±2, as mmpretrain's ``init_weights`` does.

    Args:
        img_size: side of the square input image.
        patch_size: side of a square patch.
        in_channels: channels of the image.
        embed_dims: width of every token.
        num_layers: encoder layers.
        num_heads: attention heads per layer.
        mlp_ratio: feed-forward width as a multiple of ``embed_dims``.
        num_classes: outputs of the classification head.
        norm_cfg: every norm's cfg (LayerNorm, eps 1e-6 by default).
        act_cfg: the feed-forward activation's cfg (GELU by default).
        init_cfg: init rules; ViT's usual ones are TruncNormal(std=0.02) on Linear and
            weight 1 / bias 0 on LayerNorm.
    """

    def __init__(
        self,
        img_size: int = 224,
        patch_size: int = 16,
        in_channels: int = 3,
        embed_dims: int = 768,
        num_layers: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        num_classes: int = 1000,
        norm_cfg: Cfg | None = None,
        act_cfg: Cfg | None = None,
        init_cfg: Any = None,
    ) -> None:
        super().__init__(init_cfg)
        if img_size % patch_size:
            raise ConfigValueError(f"img_size ({img_size}) must be a multiple of patch_size ({patch_size}).")
        norm_cfg = norm_cfg if norm_cfg is not None else {"type": "LN", "eps": 1e-6}
        act_cfg = act_cfg if act_cfg is not None else {"type": "GELU"}
        num_patches = (img_size // patch_size) ** 2
        self.patch_embed = build_conv_layer(None, in_channels, embed_dims, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.empty(1, 1, embed_dims))
        self.pos_embed = nn.Parameter(torch.empty(1, num_patches + 1, embed_dims))
        hidden_dims = int(embed_dims * mlp_ratio)
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(embed_dims, num_heads, hidden_dims, norm_cfg, act_cfg)
            for _ in range(num_layers)
        )
        self.norm_name, norm = build_norm_layer(norm_cfg, embed_dims)
        self.add_module(self.norm_name, norm)
        self.head = nn.Linear(embed_dims, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw ``cls_token`` and ``pos_embed`` from N(0, 0.02²) cut to [-2, 2]."""
        trunc_normal_(self.cls_token, std=0.02)
        trunc_normal_(self.pos_embed, std=0.02)

    def forward(self, images: Tensor) -> Tensor:
        x = self.patch_embed(images).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for layer in self.layers:
            x = layer(x)
        return self.head(getattr(self, self.norm_name)(x)[:, 0])

"""A GPT-style decoder for meta-device construction (Radford et al. (2019), GPT-2).

Initialization, as GPT-2 does it, lives in the config: Normal(std=0.02) on Linear and
Embedding, weight 1 / bias 0 on LayerNorm. ``GPT_1B`` is about 1.3 billion parameters::

    with torch.device('meta'):
        model = build_gpt(**GPT_1B)
    torchinit.materialize(model, 'cpu', seed=0)
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torch.nn import functional as F

from torchinit import MODELS, BaseModule, build_model

__all__ = ["GPT", "GPT_1B", "GPT_CFG", "DecoderBlock", "build_gpt", "gpt_cfg"]


class DecoderBlock(nn.Module):
    """Pre-norm causal self-attention and a 4x MLP."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln_2 = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, 4 * dim)
        self.fc_out = nn.Linear(4 * dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln_1(x)).reshape(b, t, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return x + self.fc_out(F.gelu(self.fc(self.ln_2(x))))


@MODELS.register_module()
class GPT(BaseModule):
    """Token and position embeddings, ``depth`` decoder blocks, a final norm and an LM head."""

    def __init__(
        self,
        vocab_size: int = 512,
        max_len: int = 64,
        dim: int = 64,
        depth: int = 2,
        heads: int = 4,
        init_cfg: Any = None,
    ) -> None:
        super().__init__(init_cfg)
        self.tok = nn.Embedding(vocab_size, dim)
        self.pos = nn.Embedding(max_len, dim)
        self.blocks = nn.ModuleList([DecoderBlock(dim, heads) for _ in range(depth)])
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size, bias=False)

    def forward(self, idx: Tensor) -> Tensor:
        x = self.tok(idx) + self.pos.weight[: idx.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


GPT_INIT = [
    dict(type="Normal", layer=["Linear", "Embedding"], std=0.02, bias=0),
    dict(type="Constant", layer="LayerNorm", val=1, bias=0),
]


def gpt_cfg(**kwargs: Any) -> dict[str, Any]:
    """The GPT model config (``type='GPT'``) with GPT-2's init rules."""
    return dict(type="GPT", init_cfg=GPT_INIT, **kwargs)


GPT_CFG = gpt_cfg()
GPT_1B: dict[str, Any] = dict(vocab_size=50257, max_len=1024, dim=2048, depth=24, heads=16)


def build_gpt(**kwargs: Any) -> nn.Module:
    """Build the GPT of :func:`gpt_cfg` (small by default; ``**GPT_1B`` for ~1.3B parameters)."""
    return build_model(gpt_cfg(**kwargs))

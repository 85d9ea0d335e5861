"""Each preset reproduces the scheme it names: on a small model built with the reference's
module names, every tensor ends up as the reference implementation (written here from its
published code, with torch.nn.init) leaves it.

Tensors the reference sets to constants must be equal; tensors it draws must come from the
same distribution (a two-sample Kolmogorov-Smirnov test on a fixed seed) with zeros in the
same places; tensors it leaves alone must be left alone.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from _helpers import one_thread  # noqa: F401  (autouse fixture)
from torch import Tensor, nn

from torchinit import OverrideNameError, initialize, presets

JAX_TRUNCATED_STD = 0.87962566103423978


def ks_two_sample(a: Tensor, b: Tensor) -> tuple[float, float]:
    """The two-sample KS statistic of ``a`` and ``b`` and its critical value at 1e-3."""
    x, y = (np.sort(t.detach().double().numpy().ravel()) for t in (a, b))
    grid = np.concatenate([x, y])
    d = np.abs(np.searchsorted(x, grid, side="right") / x.size - np.searchsorted(y, grid, side="right") / y.size).max()
    return float(d), math.sqrt(-0.5 * math.log(1e-3 / 2)) * math.sqrt((x.size + y.size) / (x.size * y.size))


def assert_same_scheme(
    model: nn.Module, cfg: list[dict], reference: Callable[[nn.Module], None], seed: int = 0
) -> Any:
    """Initialize ``model`` with ``cfg`` and compare every tensor with ``reference``'s result; the report.

    Each tensor is a test at level 1e-3, so over the hundreds here one fixed seed in a few
    hundred fails a correct scheme by chance (a test that hits one names another seed)."""
    initial = copy.deepcopy(model)
    expected = copy.deepcopy(model)
    torch.manual_seed(seed + 1234)  # not the seed the model was built with (conftest seeds 0): new draws
    with torch.no_grad():
        reference(expected)
    report = initialize(model, cfg, seed=seed)
    before, ours, ref = ({**dict(m.named_parameters()), **dict(m.named_buffers())} for m in (initial, model, expected))
    for key, r in ref.items():
        o, i = ours[key].detach(), before[key].detach()
        r = r.detach()
        if not r.is_floating_point():
            assert torch.equal(o, r), f"{key}: not the reference's values"
        elif torch.equal(r, i):
            assert torch.equal(o, i), f"{key}: the reference leaves it alone, the preset changed it"
        elif r.numel() == 1 or bool((r == r.flatten()[0]).all()):
            assert torch.equal(o, r), f"{key}: the reference sets it to {float(r.flatten()[0])}"
        else:
            assert torch.equal(o == 0, r == 0), f"{key}: zeros in other places than the reference's"
            d, crit = ks_two_sample(o[o != 0], r[r != 0])
            assert d < crit, f"{key}: KS {d:.4f} >= {crit:.4f}, not the reference's distribution"
    return report


# --------------------------------------------------------------------------- timm ViT, mode='jax'
class Mlp(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)


class Attention(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)


class Block(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm1, self.attn, self.norm2, self.mlp = nn.LayerNorm(dim), Attention(dim), nn.LayerNorm(dim), Mlp(dim)


class PatchEmbed(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, 4, stride=4)


class ViT(nn.Module):
    """timm's VisionTransformer layout: 16 patches of 4x4, a class token, 3 blocks."""

    def __init__(self, dim: int = 64, depth: int = 3, classes: int = 10) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 17, dim))
        self.blocks = nn.Sequential(*[Block(dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)


def timm_lecun_normal_(w: Tensor) -> None:
    std = math.sqrt(1.0 / nn.init._calculate_fan_in_and_fan_out(w)[0]) / JAX_TRUNCATED_STD
    nn.init.trunc_normal_(w, std=std, a=-2 * std, b=2 * std)


def timm_vit_reference(model: nn.Module, mode: str = "jax", head_bias: float = 0.0) -> None:
    """timm ``VisionTransformer.init_weights(mode)``: ``init_weights_vit_timm`` / ``_jax`` / ``_moco``."""
    nn.init.trunc_normal_(model.pos_embed, std=0.02)
    nn.init.normal_(model.cls_token, std=1e-6)
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            if mode == "jax" and name.startswith("head"):
                nn.init.zeros_(m.weight)
                nn.init.constant_(m.bias, head_bias)
                continue
            if mode == "jax":
                nn.init.xavier_uniform_(m.weight)
            elif mode == "moco" and "qkv" in name:
                val = math.sqrt(6.0 / float(m.weight.shape[0] // 3 + m.weight.shape[1]))
                nn.init.uniform_(m.weight, -val, val)
            elif mode == "moco":
                nn.init.xavier_uniform_(m.weight)
            else:
                nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.normal_(m.bias, std=1e-6) if mode == "jax" and "mlp" in name else nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d) and mode == "jax":
            timm_lecun_normal_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d):
            m.reset_parameters()


def timm_vit_jax_reference(model: nn.Module, head_bias: float = 0.0) -> None:
    timm_vit_reference(model, "jax", head_bias)


def test_timm_vit_jax_init_matches_timm() -> None:
    model = ViT()
    assert_same_scheme(model, presets.timm_vit_jax_init(), timm_vit_jax_reference)
    # LeCun normal is cut at 2 of its standard deviations (too fine a difference for KS here).
    bound = 2 * math.sqrt(1 / (3 * 4 * 4)) / JAX_TRUNCATED_STD
    assert float(model.patch_embed.proj.weight.detach().abs().max()) <= bound


def test_timm_vit_jax_nlhb_head_bias() -> None:
    bias = -math.log(10)
    assert_same_scheme(ViT(), presets.timm_vit_jax_init(head_bias=bias), lambda m: timm_vit_jax_reference(m, bias))


@pytest.mark.parametrize("mode", ["", "moco"], ids=["default", "moco"])
def test_timm_vit_init_matches_timm_in_its_default_and_moco_modes_covering_every_tensor(mode: str) -> None:
    report = assert_same_scheme(ViT(), presets.timm_vit_init(mode), lambda m: timm_vit_reference(m, mode))
    assert report.by_source("none") == []


def test_timm_vit_init_names_the_modes_it_knows() -> None:
    with pytest.raises(ValueError, match="'jax_nlhb' use mode='jax', head_bias=-math.log"):
        presets.timm_vit_init("jax_nlhb")  # type: ignore[arg-type]


def test_the_comparison_catches_a_scheme_that_differs_in_one_rule() -> None:
    wrong = presets.timm_vit_jax_init()
    wrong[0] = dict(wrong[0], distribution="normal")  # xavier normal instead of uniform
    with pytest.raises(AssertionError, match="qkv.weight: KS"):
        assert_same_scheme(ViT(), wrong, timm_vit_jax_reference)


# --------------------------------------------------------------------------- BERT
class BertLayer(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.attention = nn.ModuleDict(dict(
            self=nn.ModuleDict(dict(query=nn.Linear(dim, dim), key=nn.Linear(dim, dim), value=nn.Linear(dim, dim))),
            output=nn.ModuleDict(dict(dense=nn.Linear(dim, dim), LayerNorm=nn.LayerNorm(dim))),
        ))
        self.intermediate = nn.ModuleDict(dict(dense=nn.Linear(dim, 4 * dim)))
        self.output = nn.ModuleDict(dict(dense=nn.Linear(4 * dim, dim), LayerNorm=nn.LayerNorm(dim)))


class BertEmbeddings(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(1000, dim, padding_idx=0)
        self.position_embeddings = nn.Embedding(128, dim)
        self.token_type_embeddings = nn.Embedding(2, dim)
        self.LayerNorm = nn.LayerNorm(dim)
        self.register_buffer("position_ids", torch.full((1, 128), 5), persistent=False)  # away from arange
        self.register_buffer("token_type_ids", torch.ones((1, 128), dtype=torch.long), persistent=False)


class Bert(nn.Module):
    """Hugging Face's BertModel layout (padding token 0), with its embeddings' buffers."""

    def __init__(self, dim: int = 64, layers: int = 2) -> None:
        super().__init__()
        self.embeddings = BertEmbeddings(dim)
        self.encoder = nn.ModuleDict(dict(layer=nn.ModuleList([BertLayer(dim) for _ in range(layers)])))
        self.pooler = nn.ModuleDict(dict(dense=nn.Linear(dim, dim)))
        for p in self.parameters():  # start away from the values the scheme sets
            p.data.normal_(3.0, 1.0)


def hf_init_weights(module: nn.Module, std: float = 0.02) -> None:
    """Hugging Face ``BertPreTrainedModel._init_weights`` (GPT-2's is the same for these layers)."""
    if isinstance(module, nn.Linear):
        module.weight.data.normal_(mean=0.0, std=std)
        if module.bias is not None:
            module.bias.data.zero_()
    elif isinstance(module, nn.Embedding):
        module.weight.data.normal_(mean=0.0, std=std)
        if module.padding_idx is not None:
            module.weight.data[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        module.bias.data.zero_()
        module.weight.data.fill_(1.0)
    elif isinstance(module, BertEmbeddings):
        module.position_ids.copy_(torch.arange(module.position_ids.shape[-1]).expand((1, -1)))
        module.token_type_ids.zero_()


def test_bert_init_matches_hugging_face_including_the_padding_row() -> None:
    model = Bert()
    report = assert_same_scheme(model, presets.bert_init(), lambda m: m.apply(hf_init_weights))
    assert not model.embeddings.word_embeddings.weight[0].any()
    assert report.by_source("none") == []


# --------------------------------------------------------------------------- GPT-2 (nanoGPT)
class GPTBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.attn = nn.ModuleDict(dict(c_attn=nn.Linear(dim, 3 * dim), c_proj=nn.Linear(dim, dim)))
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = nn.ModuleDict(dict(c_fc=nn.Linear(dim, 4 * dim), c_proj=nn.Linear(4 * dim, dim)))


class GPT(nn.Module):
    """nanoGPT's layout (lm_head not tied here)."""

    def __init__(self, dim: int = 64, n_layer: int = 4) -> None:
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(512, dim), wpe=nn.Embedding(64, dim),
            h=nn.ModuleList([GPTBlock(dim) for _ in range(n_layer)]), ln_f=nn.LayerNorm(dim),
        ))
        self.lm_head = nn.Linear(dim, 512, bias=False)


def nanogpt_reference(model: GPT) -> None:
    """nanoGPT ``GPT.__init__``: ``apply(_init_weights)``, then the residual projections."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
    n_layer = len(model.transformer["h"])
    for name, p in model.named_parameters():
        if name.endswith("c_proj.weight"):
            nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))


class Conv1D(nn.Module):
    """Hugging Face's ``transformers.pytorch_utils.Conv1D``: a Linear whose weight is (in, out)."""

    def __init__(self, nf: int, nx: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((nx, nf), 3.0))
        self.bias = nn.Parameter(torch.full((nf,), 2.0))


def test_gpt2_init_reaches_hugging_faces_conv1d_projections_by_their_paths() -> None:
    model = GPT(n_layer=4)
    for block in model.transformer["h"]:
        block.attn = nn.ModuleDict(dict(c_attn=Conv1D(3 * 64, 64), c_proj=Conv1D(64, 64)))
        block.mlp = nn.ModuleDict(dict(c_fc=Conv1D(4 * 64, 64), c_proj=Conv1D(64, 4 * 64)))
    report = initialize(model, presets.gpt2_init(), seed=0)
    assert report.by_source("none") == []
    c_attn = torch.cat([b.attn["c_attn"].weight.detach().flatten() for b in model.transformer["h"]])
    c_proj = torch.cat([b.mlp["c_proj"].weight.detach().flatten() for b in model.transformer["h"]])
    assert float(c_attn.std()) == pytest.approx(0.02, rel=0.03)
    assert float(c_proj.std()) == pytest.approx(0.02 / math.sqrt(8), rel=0.03)
    assert not any(b.attn["c_attn"].bias.any() for b in model.transformer["h"])


def test_gpt2_init_matches_nanogpt_with_residual_projections_scaled_by_depth() -> None:
    model = GPT(n_layer=4)
    assert_same_scheme(model, presets.gpt2_init(), nanogpt_reference)
    proj = torch.cat([b.mlp["c_proj"].weight.detach().flatten() for b in model.transformer["h"]])
    assert float(proj.std()) == pytest.approx(0.02 / math.sqrt(8), rel=0.03)


# --------------------------------------------------------------------------- torchvision ResNet
def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1, self.bn1 = conv3x3(cin, width, stride), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = conv3x3(width, width), nn.BatchNorm2d(width)
        self.downsample = _downsample(cin, width, stride)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = conv3x3(width, width, stride), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, width * 4, 1, bias=False), nn.BatchNorm2d(width * 4)
        self.downsample = _downsample(cin, width * 4, stride)


def _downsample(cin: int, cout: int, stride: int) -> nn.Module | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class ResNet(nn.Module):
    """torchvision's ResNet layout, narrow: stem, 2 stages of 2 blocks, fc."""

    def __init__(self, block: type[nn.Module]) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 16, 7, 2, 3, bias=False), nn.BatchNorm2d(16)
        cin = 16
        for i, (width, stride) in enumerate([(16, 1), (32, 2)], start=1):
            blocks = []
            for j in range(2):
                blocks.append(block(cin, width, stride if j == 0 else 1))
                cin = width * block.expansion
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
        self.fc = nn.Linear(cin, 10)
        for m in self.modules():  # start away from the values the scheme sets
            if isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(3.0)
                m.bias.data.fill_(2.0)


def torchvision_reference(model: nn.Module, zero_init_residual: bool) -> None:
    """``torchvision.models.ResNet.__init__``'s init loop."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, Bottleneck):
                nn.init.constant_(m.bn3.weight, 0)
            elif isinstance(m, BasicBlock):
                nn.init.constant_(m.bn2.weight, 0)


@pytest.mark.parametrize("block", [BasicBlock, Bottleneck], ids=lambda b: b.__name__)
@pytest.mark.parametrize("zero", [False, True], ids=["default", "zero_init_residual"])
def test_torchvision_resnet_init_matches_torchvision(block: type[nn.Module], zero: bool) -> None:
    cfg = presets.torchvision_resnet_init(zero, block=block.__name__)  # type: ignore[arg-type]
    assert_same_scheme(ResNet(block), cfg, lambda m: torchvision_reference(m, zero))


def test_zero_init_residual_for_the_wrong_block_type_names_the_real_paths() -> None:
    with pytest.raises(OverrideNameError, match="layer"):
        initialize(ResNet(BasicBlock), presets.torchvision_resnet_init(True, block="Bottleneck"))


def test_torchvision_resnet_init_leaves_conv_biases_and_linear_layers_alone() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 8))
    bias, fc = model[0].bias.detach().clone(), copy.deepcopy(model[2].state_dict())
    initialize(model, presets.torchvision_resnet_init(), seed=0)
    assert torch.equal(model[0].bias, bias)
    assert all(torch.equal(v, fc[k]) for k, v in model[2].state_dict().items())


# --------------------------------------------------------------------------- zero_init
def test_zero_init_zeroes_every_weight_under_the_names_and_sets_their_bias() -> None:
    model = ViT()
    initialize(model, [dict(type="Normal", layer="Linear", std=1.0), presets.zero_init("head", "blocks.*.mlp.fc2", bias=0.5)],
               seed=0)
    for layer in (model.head, *(b.mlp.fc2 for b in model.blocks)):
        assert not layer.weight.any() and bool((layer.bias == 0.5).all())
    assert model.blocks[0].mlp.fc1.weight.any()


def test_zero_init_needs_a_name() -> None:
    with pytest.raises(TypeError, match="zero_init"):
        presets.zero_init()

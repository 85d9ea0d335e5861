"""The initializers beyond mmengine's set: torch.nn.init's structural fills (Eye, Dirac,
Orthogonal, Sparse), the embedding normal and the depth-scaled normal (JAX's variance scaling,
LeCun, TensorFlow's truncated normal and delta-orthogonal are in ``_catalogue_jax.py``).

Each is a frozen keyword-only config class registered in ``WEIGHT_INITIALIZERS`` whose
``fill`` calls one function of :mod:`torchinit.functional`, and whose ``check_tensor``
rejects, before any weight changes, a tensor that function cannot fill. Re-exported by
:mod:`torchinit.initializers`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import ClassVar

import torch
from torch import Tensor, nn

from . import _fills
from . import functional as F
from ._init_base import (
    WEIGHT_INITIALIZERS,
    FillInit,
    _check_choice,
    _check_dims,
    _check_int,
    _check_std,
    _prefixed,
)
from .errors import ConfigTypeError, ConfigValueError
from .registry import describe_value, short_repr

__all__ = [
    "DepthScaledNormal",
    "Dirac",
    "EmbeddingNormal",
    "Eye",
    "Orthogonal",
    "Sparse",
    "block_position",
]

DEPTH_FROM = ("blocks", "position")


# --------------------------------------------------------------------------- torch.nn.init's set
@WEIGHT_INITIALIZERS.register_module(name="Eye")
@dataclass(frozen=True, kw_only=True)
class Eye(FillInit):
    """The identity matrix on a 2-d weight; see :func:`torchinit.functional.eye_`."""

    random: ClassVar[bool] = False

    def check_values(self, tensor: Tensor) -> None:
        _check_dims(tensor, (2,), "2-d weights (Linear)", "Use Dirac for a conv weight.")

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return F.eye_(tensor)


@WEIGHT_INITIALIZERS.register_module(name="Dirac")
@dataclass(frozen=True, kw_only=True)
class Dirac(FillInit):
    """The identity conv (Zagoruyko & Komodakis 2017); see :func:`torchinit.functional.dirac_`.

    Args:
        groups: the conv's ``groups``: the identity is repeated per group of output channels.
    """

    random: ClassVar[bool] = False
    groups: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("Dirac", "groups", self.groups, 1)

    def check_values(self, tensor: Tensor) -> None:
        _check_dims(tensor, (3, 4, 5), "conv weights (3 to 5 dimensions)", "Use Eye for a Linear weight.")
        if tensor.size(0) % self.groups:
            raise ConfigValueError(
                f"its {tensor.size(0)} output channels do not split into {short_repr(self.groups)} groups. "
                "Set groups to the conv's groups."
            )
        _fills._dirac_args(tensor.shape, self.groups)

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return F.dirac_(tensor, self.groups)


@WEIGHT_INITIALIZERS.register_module(name="Orthogonal")
@dataclass(frozen=True, kw_only=True)
class Orthogonal(FillInit):
    """A Haar-random (semi-)orthogonal matrix times ``gain`` (Saxe et al. 2014).

    See :func:`torchinit.functional.orthogonal_`; a conv weight is flattened to
    ``out × (in·k·k)``.
    """

    gain: float = 1.0

    def check_values(self, tensor: Tensor) -> None:
        if tensor.dim() < 2:
            raise ConfigValueError(
                f"an orthogonal matrix needs at least 2 dimensions, and this tensor has {tensor.dim()}. "
                "Select weights only (param='weight') or use Constant/Normal."
            )
        _fills._orthogonal_args(tensor.dtype, tensor.shape, self.gain)

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return F.orthogonal_(tensor, self.gain, generator=generator)


@WEIGHT_INITIALIZERS.register_module(name="Sparse")
@dataclass(frozen=True, kw_only=True)
class Sparse(FillInit):
    """N(0, std²) with a ``sparsity`` fraction of each column zeroed (Martens 2010).

    See :func:`torchinit.functional.sparse_`.

    Args:
        sparsity: the fraction of each column set to 0, in [0, 1].
        std: the standard deviation of the other entries.
    """

    sparsity: float
    std: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.sparsity <= 1:
            raise ConfigValueError(f"Sparse: sparsity is a fraction in [0, 1], got {self.sparsity!r}.")
        _check_std("Sparse", self.std)

    def check_values(self, tensor: Tensor) -> None:
        _check_dims(
            tensor,
            (2,),
            "2-d weights (Linear) column by column",
            "Select Linear layers only, e.g. layer='Linear'.",
        )
        _fills._sparse_args(tensor.dtype, tensor.shape, self.sparsity, self.std)

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return F.sparse_(tensor, self.sparsity, self.std, generator=generator)


@WEIGHT_INITIALIZERS.register_module(name="EmbeddingNormal")
@dataclass(frozen=True, kw_only=True)
class EmbeddingNormal(FillInit):
    """N(mean, std²) with an embedding's padding row set to 0.

    What ``nn.Embedding.reset_parameters`` does (with N(0, 1)) and Hugging Face's BERT,
    GPT-2 and LLaMA ``_init_weights`` do (with N(0, 0.02²)): the vector of the padding
    token starts at zero.

    Args:
        mean: the mean of the normal.
        std: its standard deviation.
        padding_idx: the row set to 0; None: the ``padding_idx`` of the ``nn.Embedding``
            that holds the tensor (resolved by the engine; no row if it has none).
    """

    mean: float = 0.0
    std: float = 1.0
    padding_idx: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_std("EmbeddingNormal", self.std)
        idx = self.padding_idx
        if idx is not None and (isinstance(idx, bool) or not isinstance(idx, int)):
            raise ConfigTypeError(
                f"EmbeddingNormal: padding_idx must be an int or None, got {describe_value(idx)}."
            )

    def specialize(self, name: str, root: nn.Module) -> EmbeddingNormal:
        """This initializer with the padding row of the embedding holding ``name`` filled in."""
        if self.padding_idx is not None:
            return self
        owner_name = name.rpartition(".")[0]
        owner = root.get_submodule(owner_name) if owner_name else root
        padding_idx = owner.padding_idx if isinstance(owner, nn.Embedding) else None
        return self if padding_idx is None else replace(self, padding_idx=padding_idx)

    def check_values(self, tensor: Tensor) -> None:
        idx = self.padding_idx
        if idx is not None and not (tensor.dim() >= 1 and -len(tensor) <= idx < len(tensor)):
            raise ConfigValueError(
                f"it has no row {short_repr(idx)} (shape {tuple(tensor.shape)}). Give the padding_idx of "
                "this embedding, or None."
            )
        F._normal_args(tensor.dtype, self.mean, self.std)

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        F.normal_(tensor, self.mean, self.std, generator=generator)
        if self.padding_idx is not None:
            with torch.no_grad():
                tensor[self.padding_idx].zero_()
        return tensor


# --------------------------------------------------------------------------- depth-scaled
def block_position(root: nn.Module, name: str) -> tuple[int, int]:
    """``(position, count)`` of the block holding the tensor or module ``name`` of ``root``.

    The block is the outermost indexed container on the path: the entry of an
    ``nn.ModuleList`` or ``nn.Sequential`` (or of an ``nn.ModuleDict`` keyed by numbers, as
    torchtitan's ``layers``) that the path goes through. ``position`` counts from 1;
    ``count`` is the container's length. ``'transformer.h.3.attn.c_proj.weight'`` in a
    12-block GPT-2 gives ``(4, 12)``.

    Raises:
        ConfigValueError: no indexed container on the path.
    """
    module: nn.Module = root
    for part in name.split(".")[:-1]:
        if isinstance(module, (nn.ModuleList, nn.Sequential, nn.ModuleDict)) and part.isdigit():
            keys = list(module._modules)
            return keys.index(part) + 1, len(keys)
        child = module._modules.get(part)
        if child is None:
            break
        module = child
    raise ConfigValueError(
        f"no block (an entry of a ModuleList, Sequential or numbered ModuleDict) holds {name!r}, so "
        "its depth is unknown. Give the depth explicitly, e.g. depth=12."
    )


@WEIGHT_INITIALIZERS.register_module(name="DepthScaledNormal")
@dataclass(frozen=True, kw_only=True)
class DepthScaledNormal(FillInit):
    """N(0, (std / √(2·depth))²): residual projections scaled down with depth (GPT-2).

    Radford et al. (2019), Language Models are Unsupervised Multitask Learners: "scale the
    weights of residual layers at initialization by a factor of 1/√N where N is the number
    of residual layers" (two per block, hence ``2·depth``).

    Args:
        std: the standard deviation before scaling (GPT-2: 0.02).
        depth: a number; or ``'blocks'``: the number of blocks in the stack holding the
            tensor (GPT-2, nanoGPT: ``n_layer``); or ``'position'``: the 1-based position of
            that block (torchtitan's ``depth_init``: ``std / √(2·(layer_id + 1))``). The
            stack is the outermost ModuleList/Sequential on the tensor's path (see
            :func:`block_position`); the engine resolves it per tensor before filling.

    Example::

        dict(type='DepthScaledNormal', std=0.02, override=dict(name='h.*.attn.c_proj'))
    """

    std: float = 0.02
    depth: int | str = "blocks"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_std("DepthScaledNormal", self.std)
        if isinstance(self.depth, str):
            _check_choice("DepthScaledNormal", "depth", self.depth, DEPTH_FROM)
        else:
            _check_int("DepthScaledNormal", "depth", self.depth, 1)
            self.scaled_std()

    def scaled_std(self) -> float:
        """``std / √(2·depth)``, the std the fill draws with; an error for a depth still to resolve.

        Raises:
            ConfigValueError: ``depth`` is ``'blocks'``/``'position'`` (call :meth:`specialize`
                first), or so large that the std cannot be told from 0 (or overflows).
        """
        if isinstance(self.depth, str):
            raise ConfigValueError(
                f"{self.describe()} knows its depth only from the tensor's position: fill through a rule "
                "(initialize / init_cfg), call specialize(name, root) first, or give depth=N."
            )
        try:
            scaled = self.std / math.sqrt(2 * self.depth)
        except OverflowError:  # a depth past float64 (10**400)
            scaled = 0.0
        if self.std > 0 and not scaled > 0:
            raise ConfigValueError(
                f"DepthScaledNormal: depth={short_repr(self.depth)} makes std / √(2·depth) 0 in float64 "
                f"(std={self.std:g}). Use the number of residual blocks, e.g. depth=12."
            )
        return scaled

    def specialize(self, name: str, root: nn.Module) -> DepthScaledNormal:
        """This initializer with the depth of the tensor ``name`` of ``root`` filled in."""
        if not isinstance(self.depth, str):
            return self
        with _prefixed(self.describe()):
            position, count = block_position(root, name)
        return replace(self, depth=count if self.depth == "blocks" else position)

    def check_values(self, tensor: Tensor) -> None:
        F._normal_args(tensor.dtype, 0.0, self.scaled_std())

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return F.normal_(tensor, 0.0, self.scaled_std(), generator=generator)

"""Pretrained weights: read a checkpoint, check it against the model, then copy.

This public module re-exports the checkpoint functions (they are implemented in
``torchinit.checkpoint``), so ``from torchinit.pretrained import load_checkpoint`` keeps working;
the same names are also importable from :mod:`torchinit` itself.
"""

from .checkpoint._download import get_torchinit_home
from .checkpoint._pretrained import (
    LoadPlan,
    LoadResult,
    load_checkpoint,
    load_state_dict,
    plan_pretrained,
    read_checkpoint,
)
from .checkpoint._sources import register_scheme
from .checkpoint._state_dict import DEFAULT_REVISE_KEYS, get_state_dict

__all__ = [
    "DEFAULT_REVISE_KEYS",
    "LoadPlan",
    "LoadResult",
    "get_state_dict",
    "get_torchinit_home",
    "load_checkpoint",
    "load_state_dict",
    "plan_pretrained",
    "read_checkpoint",
    "register_scheme",
]

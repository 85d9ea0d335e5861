"""Copying a checked checkpoint into a module, atomically: the write half of loading.

The read half (hooks, lazy values) is :mod:`torchinit._load`, below the transaction; this
module runs the copies and the post-hooks inside one (:mod:`torchinit._txn`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from .. import _txn
from .._load import PostHook, post_hook_call, read_value
from .._plan_items import Ref, Slot

__all__ = ["apply_load"]


def apply_load(
    module: nn.Module,
    tensors: Mapping[str, Tensor],
    post_hooks: tuple[PostHook, ...] = (),
    result: Any = None,
) -> None:
    """Copy checked checkpoint tensors into ``module``, then run the post-hooks: atomically.

    A parameter on the meta device is replaced by a new one holding the value (cast to its
    dtype). Inside a run (user ``init_weights`` code calling ``load_checkpoint``) the copies
    join that run's transaction; otherwise they are one of their own, so a post-hook that
    raises leaves every tensor as it was.
    """
    txn = _txn.current()
    own = txn is None
    if txn is None:
        txn = _txn.Transaction(None, None, "torchinit")
        token = _txn._CURRENT.set(txn)
    try:
        txn.cover(module)
        ref = Ref("pretrained", "a checkpoint", "", "tensor", None)
        for name, value in tensors.items():
            owner_name, _, leaf = name.rpartition(".")
            owner = module.get_submodule(owner_name)
            is_buffer = leaf not in owner._parameters
            target = owner._buffers.get(leaf) if is_buffer else owner._parameters.get(leaf)
            assert target is not None, name  # _match only keeps keys of module.state_dict()
            if target.is_meta:
                with torch.no_grad():
                    data = read_value(value).to(dtype=target.dtype).clone()
                if is_buffer:
                    owner._buffers[leaf] = data
                else:
                    owner._parameters[leaf] = nn.Parameter(data, requires_grad=target.requires_grad)
                continue
            txn.issue(Slot(name, owner, leaf, is_buffer), name, ref, "", value=value)
        for hook in post_hooks:
            txn.run_call(post_hook_call(hook, result))
        if own:
            txn.commit()
    except BaseException:
        if own:
            txn.rollback()
        raise
    finally:
        if own:
            _txn._CURRENT.reset(token)

"""Loading the module's way: a checkpoint goes through each module's load hooks.

``nn.Module.load_state_dict`` gives every module a say: its load-state-dict pre-hooks may
rewrite the state dict (mmpretrain's ViT resizes ``pos_embed`` from 224 to 384 px there,
Swin its relative-position tables), a class may override ``_load_from_state_dict``
(converting an old layout), and post-hooks see what was missing or unexpected. torchinit
reads and checks a checkpoint before it writes anything, so it runs the same steps in two
parts:

* when the plan is made, :func:`run_load_hooks` walks the modules (parents first) and
  runs their pre-hooks on a view of the checkpoint; a module that overrides
  ``_load_from_state_dict`` (outside torch) runs it against copies of its own tensors, and
  what it writes there becomes the checkpoint's value for those tensors. Nothing of the
  model changes; the result is matched, checked and reported like any checkpoint;
* the post-hooks run after the copy, as part of the run (undone with it on failure):
  :func:`torchinit.checkpoint._apply.apply_load`.

A pre-hook must only change the state dict it is given (torch's contract); one that writes
the model's tensors when the plan is made is not undone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

import torch
from torch import Tensor, nn

from ._plan_items import Call, Ref, preorder

__all__ = [
    "HookView",
    "LazyValue",
    "PostHook",
    "has_load_hooks",
    "post_hook_call",
    "read_value",
    "run_load_hooks",
]

PostHook = tuple[nn.Module, str, Callable[..., Any]]
"""``(module, its name under the load's scope, hook)``: call ``hook(module, incompatible_keys)``."""

_MISSING = object()


class LazyValue:
    """A checkpoint tensor that was read and checked when the plan was made, then dropped:
    :meth:`read` reads it again (a lazy safetensors file checks it has not changed). Used for
    the tensors of a sharded model, so that a rank holds one checkpoint tensor at a time."""

    def __init__(self, state: Mapping[str, Any], key: str) -> None:
        self.state = state
        self.key = key

    def read(self) -> Tensor:
        return self.state[self.key]


def read_value(value: Tensor | LazyValue) -> Tensor:
    """The tensor of a planned checkpoint copy, read now if it was kept lazily."""
    return value.read() if isinstance(value, LazyValue) else value


def _custom_loader(module: nn.Module) -> bool:
    """Does the module's class override ``_load_from_state_dict`` outside torch itself?"""
    method = type(module)._load_from_state_dict
    return method is not nn.Module._load_from_state_dict and not method.__module__.startswith("torch.")


def has_load_hooks(scope: nn.Module) -> bool:
    """True if any module under ``scope`` has a load pre/post-hook or a custom loader."""
    return any(
        m._load_state_dict_pre_hooks or m._load_state_dict_post_hooks or _custom_loader(m)
        for _, m in preorder(scope)
    )


class HookView(MutableMapping[str, Any]):
    """The checkpoint as the hooks see it: names relative to the load's scope, values read
    from the file only when a hook (or the copy) asks for them.

    What a hook reads is kept (it may change the tensor in place); once the hooks have run
    (:meth:`hooks_done`), an entry no hook touched is read from the file each time it is
    asked for and not kept, so checking a lazily read file holds one tensor at a time."""

    def __init__(self, state: Mapping[str, Any], names: Mapping[str, str]) -> None:
        self._state = state
        self._keys = dict(names)  # name -> the checkpoint's key, for entries no hook replaced
        self._data: dict[str, Any] = {name: _MISSING for name in names}
        self._metadata = getattr(state, "_metadata", None)
        self._keep = True  # while the hooks run

    def hooks_done(self) -> None:
        """The hooks have run: from now on, entries they did not touch are not kept."""
        self._keep = False

    def __getitem__(self, name: str) -> Any:
        value = self._data[name]
        if value is _MISSING:
            value = self._state[self._keys[name]]
            if self._keep:
                self._data[name] = value
        return value

    def __setitem__(self, name: str, value: Any) -> None:
        self._data[name] = value
        self._keys.pop(name, None)

    def __delitem__(self, name: str) -> None:
        del self._data[name]
        self._keys.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def lazy(self, name: str) -> LazyValue | None:
        """The entry as a :class:`LazyValue` if no hook touched it (a hook that read it may
        have changed it in place) and the file reads lazily."""
        from .checkpoint import _serialization  # checkpoint reading loads on first use

        untouched = name in self._keys and self._data.get(name, None) is _MISSING
        if untouched and isinstance(self._state, _serialization.SafetensorsStateDict):
            return LazyValue(self._state, self._keys[name])
        return None

    def shape(self, name: str) -> tuple[int, ...] | None:
        """The entry's shape, from the file's header where nothing replaced it."""
        from .checkpoint import _serialization

        value = self._data[name]
        if value is _MISSING:
            return _serialization.entry_shape(self._state, self._keys[name])
        return tuple(value.shape) if isinstance(value, Tensor) else None

    def metadata(self, prefix: str) -> dict[str, Any]:
        """The module's entry of the checkpoint's ``_metadata`` (its version), as torch passes it."""
        found = self._metadata.get(prefix[:-1], {}) if isinstance(self._metadata, Mapping) else {}
        return dict(found)


def run_load_hooks(scope: nn.Module, view: HookView) -> tuple[list[str], list[PostHook]]:
    """Run every pre-hook and custom loader under ``scope`` on ``view``, parents first.

    Returns the error messages the hooks or loaders reported, and the post-hooks to call
    after the copy. Raises whatever a hook raises (the model is untouched at this point).
    """
    errors: list[str] = []
    post: list[PostHook] = []
    for name, m in preorder(scope):
        prefix = name + "." if name else ""
        metadata = view.metadata(prefix)
        missing: list[str] = []
        unexpected: list[str] = []
        if _custom_loader(m):
            _run_custom_loader(m, view, prefix, metadata, missing, unexpected, errors)
        else:
            for hook in list(m._load_state_dict_pre_hooks.values()):
                hook(view, prefix, metadata, True, missing, unexpected, errors)
        post += [(m, name, hook) for hook in m._load_state_dict_post_hooks.values()]
    return errors, post


def _run_custom_loader(
    m: nn.Module,
    view: HookView,
    prefix: str,
    metadata: dict[str, Any],
    missing: list[str],
    unexpected: list[str],
    errors: list[str],
) -> None:
    """``m._load_from_state_dict`` against copies of its tensors; what it writes there is
    what the load will copy into the real ones."""
    params, buffers = dict(m._parameters), dict(m._buffers)
    copies: dict[str, Tensor] = {}
    for table in (m._parameters, m._buffers):
        for attr, t in list(table.items()):
            if t is None:
                continue
            with torch.no_grad():
                data = torch.empty(t.shape, dtype=t.dtype) if t.is_meta else t.detach().clone()
            copy = nn.Parameter(data, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else data
            copies[attr] = copy
            table[attr] = copy  # type: ignore[assignment]  # the table may be _buffers (plain tensors)
    versions = {attr: t._version for attr, t in copies.items()}
    try:
        m._load_from_state_dict(view, prefix, metadata, True, missing, unexpected, errors)
    finally:
        m._parameters.clear()
        m._parameters.update(params)
        m._buffers.clear()
        m._buffers.update(buffers)
    for attr, t in copies.items():
        if t._version != versions[attr]:
            view[prefix + attr] = t.detach()


def post_hook_call(hook: PostHook, result: Any) -> Call:
    """A post-hook as opaque code of the run: ``hook(module, incompatible_keys)``."""
    module, name, fn = hook
    keys = nn.modules.module._IncompatibleKeys(list(result.missing), list(result.unexpected))
    return Call(
        module,
        name,
        lambda: fn(module, keys),
        Ref("user", f"a load_state_dict post-hook of {type(module).__name__}", name, "tensor", None),
    )

"""Meta-device construction: build without memory, then allocate and fill each tensor once.

    with torch.device('meta'):
        model = build_model(cfg)          # no memory, no random numbers
    torchinit.materialize(model, 'cpu', seed=0)

``materialize`` plans exactly as ``init_weights()`` does, checks that every tensor will be
covered (by a rule, a checkpoint, the module's ``reset_parameters()`` or a user-written
``init_weights()``) and only then allocates. A tensor that nothing covers is an error naming
it, raised while the model is still on the meta device: uninitialized memory never reaches
the user. Tensors a checkpoint fills are assigned from it (moved to the device and dtype),
never allocated and filled first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import torch
from torch import Tensor, nn

from ._dry_run import plan_model
from ._load import read_value
from ._plan_items import Call, Fill
from ._planner import Planner
from ._txn import Transaction
from .distributed import sharded
from .engine import _check_run_args, _run, derive_seed
from .errors import ConfigTypeError, ConfigValueError, InitStateError
from .registry import describe_value
from .report import InitReport

__all__ = ["materialize"]


def _has_reset(m: nn.Module) -> bool:
    return callable(getattr(m, "reset_parameters", None)) or callable(getattr(m, "reset_running_stats", None))


def materialize(
    model: nn.Module,
    device: str | torch.device | None = None,
    *,
    init_cfg: Any = None,
    seed: int | None = None,
    dtype: torch.dtype | None = None,
    compat: str | None = None,
    num_threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> InitReport:
    """Allocate every meta-device tensor of ``model`` on ``device`` and initialize it once.

    What fills each tensor, in order of precedence (as in ``init_weights()``): a checkpoint
    (``Pretrained``), the ``init_cfg`` rules, a user-written ``init_weights()`` (trusted to
    cover its subtree), and finally the module's own ``reset_parameters()`` for tensors no rule
    covers (BatchNorm's running statistics come out as a normal build leaves them).

    Args:
        model: built under ``torch.device('meta')``; tensors already on a real device are
            kept and initialized in place like ``init_weights()`` would.
        device: where to allocate (default CPU).
        init_cfg: rules to apply with :func:`torchinit.initialize` semantics; by default a
            BaseModule uses its ``init_cfg`` tree (``init_weights()`` semantics).
        seed: per-tensor generators (see ``init_weights``); also seeds each module's
            ``reset_parameters()`` by its name, so the result is reproducible.
        dtype: floating-point dtype to allocate (e.g. ``torch.bfloat16``); default: as built.
        progress: called as ``progress(done, total)`` (elements) after each tensor is filled.

    Raises:
        InitStateError: a tensor that nothing would initialize; the model stays on meta.

    Example:
        >>> with torch.device('meta'):
        ...     net = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
        >>> report = materialize(net, seed=0)
        >>> net[0].weight.device.type
        'cpu'
    """
    if not isinstance(model, nn.Module):
        raise ConfigTypeError(f"materialize() needs an nn.Module, got {describe_value(model)}.")
    _check_run_args(seed, num_threads, progress)
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ConfigTypeError(f"dtype must be a floating-point torch.dtype, got {describe_value(dtype)}.")
    target = torch.device(device) if device is not None else torch.device("cpu")
    planner = plan_model(model, init_cfg, compat)
    mode = "mmengine" if planner.compat else "torchinit"
    fills = {(id(f.slot.module), f.slot.attr): f for f in planner.steps if isinstance(f, Fill)}
    opaque = _opaque_modules(planner)
    to_reset: list[tuple[str, nn.Module]] = []
    uncovered: list[tuple[str, nn.Module, str]] = []
    for name, m in planner.order:
        missing = [
            attr
            for attr, t in [*m._parameters.items(), *m._buffers.items()]
            if t is not None and t.is_meta and (id(m), attr) not in fills and id(m) not in opaque
        ]
        if not missing:
            continue
        if _has_reset(m):
            to_reset.append((name, m))
        else:
            uncovered += [(f"{name}.{a}" if name else a, m, a) for a in missing]
    if uncovered:
        raise InitStateError(
            f"materialize() would leave {len(uncovered)} tensor(s) uninitialized: "
            f"{_shown([n for n, _, _ in uncovered])}. Nothing covers them: no init_cfg rule, no checkpoint "
            "key, and their module has no reset_parameters(). Add rules that fill them, e.g. "
            f"{'; '.join(_suggestions(uncovered))}; or load them with Pretrained. The model is still on the meta "
            "device."
        )

    if seed is None:
        _check_unseeded_resets(to_reset)

    def prepare(txn: Transaction) -> None:
        _allocate(planner, fills, target, dtype)
        txn.refresh(planner.root, fresh=True)
        for _, m in to_reset:  # a module with real tensors beside meta ones: reset writes them too
            for t in [*m._parameters.values(), *m._buffers.values()]:
                if t is not None:
                    txn.save(t)
        _reset(to_reset, seed, target)
        for name, m in to_reset:
            for attr, t in m._parameters.items():
                rec = planner.records.get(f"{name}.{attr}" if name else attr)
                if t is not None and rec is not None and (id(m), attr) not in fills:
                    rec.source, rec.initializer, rec.owner = (
                        "reset",
                        f"{type(m).__name__}.reset_parameters()",
                        name,
                    )

    return _run(planner, seed, num_threads, mode, prepare, progress)


_INIT_METHODS = (
    "init_weights",
    "_init_weights",
    "reset_parameters",
    "_reset_parameters",
    "reset_running_stats",
)


def _suggestions(uncovered: list[tuple[str, nn.Module, str]], most: int = 3) -> list[str]:
    """Rules that can fill these tensors: the module's own init method, or a buffer/param rule."""
    out: list[str] = []
    for _, m, attr in uncovered:
        cls = type(m).__name__
        method = next((name for name in _INIT_METHODS if callable(getattr(m, name, None))), None)
        if method is not None:
            rule = f"dict(type='ModuleInit', method='{method}', layer='{cls}')"
        elif attr in m._buffers:
            kind = (
                "type='Arange'"
                if "position" in attr or (attr.endswith("_ids") and "type" not in attr)
                else "type='Constant', val=0"
            )
            rule = f"dict({kind}, buffer='{attr}', layer='{cls}')"
        else:
            rule = f"dict(type='Normal', std=0.02, param='{attr}', layer='{cls}')"
        if rule not in out:
            out.append(rule)
        if len(out) == most:
            break
    return out


def _shown(names: list[str], most: int = 20) -> str:
    """The first ``most`` names, and how many more there are."""
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def _check_unseeded_resets(modules: list[tuple[str, nn.Module]]) -> None:
    """Without a seed, ``reset_parameters()`` of a module holding DTensors cannot give one tensor."""
    names = [
        f"{name}.{attr}" if name else attr
        for name, m in modules
        for attr, t in [*m._parameters.items(), *m._buffers.items()]
        if sharded.is_sharded(t)
    ]
    if names:
        raise ConfigValueError(
            f"materialize() would fill the sharded tensor(s) {_shown(names)} with their module's "
            "reset_parameters() without a seed: each rank would draw from its own global generator and the "
            "shards would not form one tensor. Pass seed=... (the same on every rank), or cover them with "
            "init_cfg rules. The model is still on the meta device."
        )


def _opaque_modules(planner: Planner) -> set[int]:
    """Modules inside the subtree of a user-written init_weights (trusted to cover them)."""
    inside: set[int] = set()
    for step in planner.steps:
        if isinstance(step, Call) and step.covers is not None:  # ModuleInit: the modules it runs on
            inside.update(id(m) for m in step.covers)
        elif isinstance(step, Call) and step.ref.source == "user":
            stack = [step.module]
            while stack:
                m = stack.pop()
                if id(m) not in inside:
                    inside.add(id(m))
                    stack.extend(c for c in m._modules.values() if c is not None)
    return inside


def _allocate(
    planner: Planner, fills: dict[tuple[int, str], Fill], device: torch.device, dtype: torch.dtype | None
) -> None:
    """Give every meta tensor memory on ``device`` (a DTensor: its local shard only, keeping its
    mesh and placements); tensors a checkpoint fills get their values here."""
    done: dict[int, Tensor] = {}
    for _, m in planner.order:
        for table, is_param in ((m._parameters, True), (m._buffers, False)):
            for attr, t in list(table.items()):
                if t is None or not t.is_meta:
                    continue
                if id(t) not in done:
                    want = dtype if (dtype is not None and t.is_floating_point()) else t.dtype
                    fill = fills.get((id(m), attr))
                    if fill is not None and fill.value is not None and not sharded.is_sharded(t):
                        data = read_value(fill.value).to(device=device, dtype=want)
                    else:
                        data = sharded.empty_like(t, device, want)
                    if fill is not None and fill.value is not None:
                        if sharded.is_sharded(data):
                            with torch.no_grad():
                                sharded.copy_value(data, read_value(fill.value))
                        fill.done = True
                    done[id(t)] = nn.Parameter(data, requires_grad=t.requires_grad) if is_param else data
                table[attr] = done[id(t)]  # type: ignore[assignment]  # the table may be _buffers (plain tensors)


def _reset(modules: list[tuple[str, nn.Module]], seed: int | None, device: torch.device) -> None:
    devices = [device] if device.type == "cuda" else []
    for name, m in modules:
        reset = getattr(m, "reset_parameters", None)
        if not callable(reset):
            reset = cast(Callable[[], None], m.reset_running_stats)
        with _whole_tensors(m, name, seed):
            if seed is None:
                reset()
                continue
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(derive_seed(seed, f"{name}#reset_parameters"))
                reset()


@contextmanager
def _whole_tensors(m: nn.Module, name: str, seed: int | None) -> Iterator[None]:
    """Let ``reset_parameters()`` of ``m`` write whole tensors: each DTensor of ``m`` is replaced
    by a plain tensor of its global shape while it runs, then keeps its own part of it (the
    values one process gets; one module's tensors at a time)."""
    tables = (m._parameters, m._buffers)
    swapped = cast(  # is_sharded(None) is False: each t is a tensor
        list[tuple[dict[str, Any], str, Tensor]],
        [(table, attr, t) for table in tables for attr, t in table.items() if sharded.is_sharded(t)],
    )
    if not swapped:
        yield
        return
    for table, attr, t in swapped:
        sharded.check_layout(t, f"{name}.{attr}" if name else attr)
        full = torch.empty(t.shape, dtype=t.dtype, device=sharded.local_tensor(t).device)
        table[attr] = nn.Parameter(full, requires_grad=t.requires_grad) if table is m._parameters else full
    try:
        yield
        with torch.no_grad():
            for table, attr, t in swapped:
                sharded.copy_value(t, table[attr].detach())
    finally:
        for table, attr, t in swapped:
            table[attr] = t

"""The dry run: what ``init_weights()`` or ``initialize()`` would do, without doing it.

:func:`plan_model` builds the finished plan both a dry run and :func:`torchinit.materialize`
start from; :func:`plan` turns it into a report in which tensors left to user code are
marked as such. Nothing here writes a tensor or runs user code.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ._compat import resolve_compat
from ._plan_items import Call, Ref, describe_ref, join
from ._planner import MAX_BEATEN, Planner
from .config import parse_init_cfg
from .errors import ConfigTypeError
from .module import is_init_owner, unwrap_model
from .registry import describe_value
from .report import InitReport

__all__ = ["plan", "plan_model", "report_of"]


def plan_model(model: nn.Module, init_cfg: Any, compat: str | None) -> Planner:
    """A finished plan: ``initialize(model, init_cfg)`` semantics if ``init_cfg`` is given or
    the model holds no init owner at its root, else ``init_weights()`` semantics."""
    root = unwrap_model(model)
    planner = Planner(root, resolve_compat(compat))
    if init_cfg is not None or not is_init_owner(root):
        planner.plan_initialize(parse_init_cfg(init_cfg, "init_cfg"))
    else:
        planner.plan_init_weights()
    return planner


def _plan_call(planner: Planner, step: Call) -> None:
    """Mark what opaque code will set: the tensors of the modules it names (ModuleInit), else
    its whole subtree, as left to it."""
    if step.covers is not None:
        tensors = [
            (join(planner.name_of(m), n), t)
            for m in step.covers
            for n, t in [*m._parameters.items(), *m._buffers.items()]
            if t is not None
        ]
    else:
        tensors = [*step.module.named_parameters(step.name), *step.module.named_buffers(step.name)]
    for name, _ in tensors:
        rec = planner.records.get(name)
        if rec is None:
            continue
        if rec.source != "none" and len(rec.beaten) < MAX_BEATEN:
            rec.beaten.insert(
                0, describe_ref(Ref(rec.source, rec.initializer or "?", rec.owner or "", rec.role, None))
            )
        rec.init = None
        owner = step.name if step.ref.source == "user" else step.ref.owner
        rec.source, rec.initializer, rec.owner, rec.role = (
            step.ref.source,
            step.ref.initializer,
            owner,
            "tensor",
        )


def plan(model: nn.Module, init_cfg: Any = None, *, compat: str | None = None) -> InitReport:
    """What ``init_weights()`` (or ``initialize(model, init_cfg)``) would do, without doing it.

    Every config is validated and every checkpoint read and matched, exactly as a real run
    would, but no tensor is written and no user code runs; works on meta-device models. The
    returned report lists every parameter and buffer with the rule that would set it, the
    module whose ``init_cfg`` holds that rule and the rules it would beat; tensors inside a
    module with a user-written ``init_weights`` are marked as left to it. Rules whose
    ``layer`` matches nothing are in ``report.unmatched`` (no warning is issued). A model
    built with mmengine's or mmcv's BaseModule is planned from its ``init_cfg`` too.

    Args:
        model: a BaseModule (its ``init_cfg`` tree is planned) or any module with ``init_cfg``.
        init_cfg: plan ``initialize(model, init_cfg)`` instead of ``init_weights()``.
    """
    if not isinstance(model, nn.Module):
        raise ConfigTypeError(f"plan() needs an nn.Module, got {describe_value(model)}.")
    planner = plan_model(model, init_cfg, compat)
    mode = "mmengine" if planner.compat else "torchinit"
    for slot in planner.slots.values():
        planner.record_for(slot)
    for step in planner.steps:
        if isinstance(step, Call):
            _plan_call(planner, step)
    return report_of(planner, None, mode)


def report_of(planner: Planner, seed: int | None, compat: str) -> InitReport:
    """The report of a finished plan (and of the run that performed it, with its seed)."""
    from .distributed.bands import describe_scheme

    return InitReport(
        params=planner.records,
        rules=planner.rules,
        loads=planner.loads,
        unmatched=planner.unmatched,
        seed=seed,
        compat=compat,
        seed_scheme=describe_scheme() if seed is not None else None,
    )

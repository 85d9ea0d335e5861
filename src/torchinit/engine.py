"""The engine: config -> validated plan -> apply (each tensor written once) -> report.

``initialize(module, init_cfg)`` applies one config to a module tree;
``BaseModule.init_weights()`` (via :func:`run_init_weights`) applies every config of a tree.
Both build a *plan* first: in one walk of the tree every ``init_cfg`` is validated, every
checkpoint is read and checked, and each rule's writes are listed in the order mmengine
would perform them. The last write to a tensor in that order is the one that counts, so
only that one is performed. Nothing is written until the whole plan exists, so a bad config
or checkpoint changes nothing.

Order of writes in ``init_weights()`` (later wins), per module ``M`` that holds rules:

1. the ``default_init_cfg()`` rules of every reached module (lowest priority of all);
2. ``M``'s own rules, in list order; within one rule its ``layer`` fill, then its overrides;
3. ``M``'s children, each as in 2-4 (a BaseModule), or by calling its user-written
   ``init_weights()`` (opaque code, run at this point in the order);
4. ``M``'s ``Pretrained`` rules.

In ``compat='mmengine'`` mode the walk visits direct children only, ``layer`` matches the
class name and its direct bases' names, and default rules are applied where mmengine's
ConvModule would apply them: when the module is reached, before its own rules.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from torch import nn

from . import _txn
from ._compat import get_compat, resolve_compat, set_compat
from ._dry_run import plan, report_of
from ._plan_items import Call, Ref, describe_ref, join
from ._planner import MAX_BEATEN, Planner
from ._txn import Progress, Transaction, derive_seed
from .config import parse_init_cfg
from .errors import ConfigTypeError, InitWarning
from .module import BaseModule, bind_engine, get_is_init, unwrap_model
from .registry import describe_value
from .report import InitReport, RuleRecord

__all__ = ["derive_seed", "get_compat", "initialize", "plan", "run_init_weights", "set_compat"]

logger = logging.getLogger("torchinit")


# --------------------------------------------------------------------------- running a plan
def _check_run_args(seed: Any, num_threads: Any, progress: Any = None) -> None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigTypeError(f"seed must be a non-negative int or None, got {describe_value(seed)}.")
    if num_threads is not None and (
        isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1
    ):
        raise ConfigTypeError(
            f"num_threads must be a positive int or None, got {describe_value(num_threads)}."
        )
    if progress is not None and not callable(progress):
        raise ConfigTypeError(
            f"progress must be a function progress(done, total) or None, got {describe_value(progress)}."
        )


def _issue_plan(planner: Planner, txn: Transaction, seed: int | None) -> None:
    """Hand the plan's steps to the transaction, in order (see torchinit._txn)."""
    root = txn.names.get(id(planner.root), "")
    for step in planner.steps:
        if isinstance(step, Call):
            txn.run_call(step)
            continue
        owner = join(root, step.ref.owner) if step.ref.owner else root
        taken = txn.issue(
            step.slot,
            join(root, step.slot.name),
            step.ref,
            owner,
            init=step.init,
            value=step.value,
            done=step.done,
            seed=seed,
        )
        if not taken:  # a default under a rule of an enclosing run: report what holds the tensor
            held = txn.last[step.slot.key]
            rec = planner.record_for(step.slot)
            rec.beaten.insert(0, describe_ref(step.ref))
            rec.source, rec.initializer, rec.owner, rec.role = (
                held.ref.source,
                held.ref.initializer,
                held.owner,
                held.ref.role,
            )
            rec.init = held.init


def _run(
    planner: Planner,
    seed: int | None,
    num_threads: int | None,
    compat: str,
    prepare: Callable[[Transaction], None] | None = None,
    progress: Progress | None = None,
) -> InitReport:
    """Perform a finished plan in a transaction (see torchinit._txn): on any exception every
    tensor is restored. Inside user code of another run, join that run's transaction.

    ``prepare`` runs after the plan is final and before the first write (materialize uses it
    to allocate meta tensors); a failure there is rolled back too.
    """
    for message in planner.unmatched:
        warnings.warn(message, InitWarning, stacklevel=4)
    txn = _txn.current()
    if txn is not None:
        txn.cover(planner.root)
        txn.nested_rules.append((planner.rules, txn.names.get(id(planner.root), "")))
        _issue_plan(planner, txn, txn.seed if seed is None else seed)
        planner.mark_owners_initialized()
        report = report_of(planner, seed, compat)
        txn.nested_plans.append((planner, report))
        return report
    txn = Transaction(seed, num_threads, compat, progress)
    token = _txn._CURRENT.set(txn)
    try:
        if prepare is not None:
            txn.cover(planner.root)
            prepare(txn)
        else:
            txn.cover_later(planner.root)
        _issue_plan(planner, txn, seed)
        txn.commit()
        planner.mark_owners_initialized()
    except BaseException:
        txn.rollback()
        raise
    finally:
        _txn._CURRENT.reset(token)
    if txn.ran_code:  # else every write of the plan landed as planned: its records are final
        _apply_provenance(planner, txn)
    report = report_of(planner, seed, compat)
    report.saved_bytes = txn.saved_bytes()
    _log(report)
    if txn.interrupted:
        raise KeyboardInterrupt  # held while the checked writes finished (see torchinit._txn)
    return report


def _apply_provenance(planner: Planner, txn: Transaction) -> None:
    """Final provenance: the last write of each tensor across every run of the transaction
    (user code, nested runs), and per-rule counts of the tensors each finally set."""
    own = {id(fill.slot): fill.ref for _, fill in planner._best.values()}
    copies: dict[int, RuleRecord] = {}
    for rules, prefix in txn.nested_rules:
        if rules is planner.rules:
            continue
        for r in rules:
            copies[id(r)] = replace(r, owner=join(prefix, r.owner) if r.owner else prefix)
    for r in [*planner.rules, *copies.values()]:
        r.tensors = 0
    for slot in planner.slots.values():
        held = txn.last.get(slot.key)
        if held is None:
            continue
        rec = planner.record_for(slot)
        if own.get(id(slot)) is not held.ref:
            if rec.source != "none" and rec.initializer is not None and len(rec.beaten) < MAX_BEATEN:
                rec.beaten.insert(0, f"{rec.initializer} ({rec.source}, {rec.owner or 'root'})")
            rec.source, rec.initializer, rec.owner, rec.role, rec.value = (
                held.ref.source,
                held.ref.initializer,
                held.owner,
                held.ref.role,
                held.ref.value,
            )
            rec.init = held.init
        rule = held.ref.rule
        if rule is not None:
            copies.get(id(rule), rule).tensors += 1
    planner.rules.extend(copies.values())


def _log(report: InitReport) -> None:
    if logger.isEnabledFor(logging.INFO):
        for rule in report.rules:
            logger.info(rule.summary())
        logger.info(report.summary())
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("init provenance:\n%s", report.table())


def run_user_code(
    module: nn.Module,
    fn: Callable[[], Any],
    *,
    seed: int | None = None,
    compat: str | None = None,
    num_threads: int | None = None,
    progress: Progress | None = None,
) -> Any:
    """Run a user-written ``init_weights`` of ``module`` atomically (see
    :func:`torchinit.module.atomic_init_weights`); inside a run, just call it.

    The keyword arguments configure the run the user code opens (the runs its
    ``super().init_weights()`` joins inherit them), for methods that do not take them.
    Returns what the method returns; a method that returns None (or a report) gives the
    final report of the run rooted at ``module``.
    """
    if _txn.current() is not None:
        return fn()
    _check_run_args(seed, num_threads, progress)
    txn = Transaction(seed, num_threads, resolve_compat(compat), progress)
    token = _txn._CURRENT.set(txn)
    call = Call(module, "", fn, Ref("user", type(module).__name__, "", "tensor", None))
    try:
        txn.cover(module)
        result = txn.run_call(call)
        txn.commit()
    except BaseException:
        txn.rollback()
        raise
    finally:
        _txn._CURRENT.reset(token)
    for planner, report in txn.nested_plans:  # super().init_weights() inside: its report, final
        if planner.root is module:
            _apply_provenance(planner, txn)
            report.saved_bytes = txn.saved_bytes()
            if isinstance(module, BaseModule):
                module._init_report = report
            if result is None or isinstance(result, InitReport):
                result = report
    if txn.interrupted:
        raise KeyboardInterrupt
    return result


# --------------------------------------------------------------------------- entry points
def _resolve_mode(seed: Any, num_threads: Any, compat: Any, progress: Any) -> tuple[int | None, str]:
    _check_run_args(seed, num_threads, progress)
    txn = _txn.current()
    if txn is not None:
        seed = txn.seed if seed is None else seed
        compat = compat or ("mmengine" if txn.compat else None)
    return seed, resolve_compat(compat)


def owner_init_weights(
    module: nn.Module,
    *,
    seed: int | None = None,
    compat: str | None = None,
    num_threads: int | None = None,
    progress: Progress | None = None,
) -> InitReport | None:
    """``init_weights(**options)`` of an init owner: torchinit's BaseModule, and mmengine's once
    adopted. A second call warns (and logs, as mmengine does) and changes nothing; a top-level
    run also writes the init table into mmengine's log files when mmengine's logging is in use."""
    if get_is_init(module):
        message = (
            f"init_weights of {type(module).__name__} has been called more than once; "
            "nothing was changed. Set `module.is_init = False` to initialize again."
        )
        logger.warning(message)
        warnings.warn(message, InitWarning, stacklevel=3)
        return None
    top = _txn.current() is None
    report = run_init_weights(module, seed=seed, compat=compat, num_threads=num_threads, progress=progress)
    if top:  # into an mmengine Runner's log file, as mmengine does
        from .openmmlab._log import dump_to_mmengine_log

        dump_to_mmengine_log(module, report)
    return report


class _BaseModuleEngine:
    """The engine as :class:`torchinit.module.BaseModule` calls it (bound below)."""

    init_weights = staticmethod(owner_init_weights)
    run_user_code = staticmethod(run_user_code)


def run_init_weights(
    root: nn.Module,
    *,
    seed: int | None = None,
    compat: str | None = None,
    num_threads: int | None = None,
    progress: Progress | None = None,
) -> InitReport:
    """Initialize the tree under ``root`` from every ``init_cfg`` in it (see module docs)."""
    seed, mode = _resolve_mode(seed, num_threads, compat, progress)
    planner = Planner(root, mode)
    planner.plan_init_weights()
    return _run(planner, seed, num_threads, mode, progress=progress)


def initialize(
    module: nn.Module,
    init_cfg: Any,
    *,
    seed: int | None = None,
    compat: str | None = None,
    num_threads: int | None = None,
    progress: Progress | None = None,
) -> InitReport:
    """Apply one ``init_cfg`` (a rule dict or a list of them) to ``module`` and its subtree.

    The whole config is validated, and any checkpoint read, before one tensor changes; if
    anything fails later (a user's fill function, a callback), every tensor is restored.
    Children's own ``init_cfg`` and ``init_weights`` are not involved (use
    ``BaseModule.init_weights()`` for that). ``Pretrained`` rules apply last (in list
    order with ``compat='mmengine'``, as mmengine's ``initialize``).

    Args:
        module: the model (a wrapper such as DistributedDataParallel is unwrapped).
        init_cfg: e.g. ``dict(type='Kaiming', layer='Conv2d')``; never modified.
        seed: per-tensor generators seeded by (seed, qualified name); None uses torch's
            global generator.
        compat: ``'mmengine'`` for mmengine's exact matching rules.
        num_threads: threads for seeded fills.
        progress: called as ``progress(done, total)`` (elements) after each tensor is
            written. It is user code: if it raises, the run is undone, so each tensor is
            copied before it is written (one more copy of the model at the peak).

    Returns:
        The provenance report.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
        >>> report = initialize(net, dict(type='Constant', layer='Conv2d', val=1, bias=0))
        >>> report['0.weight'].describe()
        'Constant(val=1) (from the init_cfg of the root)'
    """
    if not isinstance(module, nn.Module):
        raise ConfigTypeError(f"initialize() needs an nn.Module, got {describe_value(module)}.")
    seed, mode = _resolve_mode(seed, num_threads, compat, progress)
    module = unwrap_model(module)
    rules = parse_init_cfg(init_cfg, "init_cfg")
    planner = Planner(module, mode)
    planner.plan_initialize(rules)
    return _run(planner, seed, num_threads, mode, progress=progress)


bind_engine(_BaseModuleEngine())

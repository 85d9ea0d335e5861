"""Initialize one packaged model with real mmengine, then with torchinit adopted, and keep what each did.

:func:`build_pristine` builds the model once, without initializing it. Every run below starts
from its own deep copy of that build: the state a fresh build of the config has, identical for
all runs (so a tensor that an init leaves alone must come out bit-identical), and one build
instead of five. Each run seeds torch's global generator differently before ``init_weights``.

:func:`observe_mmengine` runs mmengine's own ``BaseModule.init_weights`` on two copies (seeds 11
and 12), recording per tensor:

* the values after init (parameters and buffers),
* mmengine's ``_params_init_info`` text per parameter (captured where mmengine dumps it),
* the law of the fill that last wrote it (:mod:`_fill_log`), while it still holds that fill,
* whether it came out identical under both seeds (deterministic: a constant, a copied table, or
  a tensor the init did not write).

:func:`observe_torchinit` adopts torchinit in one line (``torchinit.adopt_mmengine()``), runs
``init_weights`` on a copy per mode and keeps the values and torchinit's report, then undoes the
adoption (``adoption.undo()``), checking that mmengine is as it was.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

import _dists as D
from _fill_log import FillLog, record_fills
from openmmlab_models import Case, build_model, load_model_cfg

__all__ = ["MMEngineSide", "Pristine", "TorchinitRun", "build_pristine", "mmengine_pristine", "observe_mmengine",
           "observe_torchinit", "tensors_of"]


def tensors_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer by qualified name (shared ones once), detached.

    Not copied: the callers drop the model right after, so nothing writes these tensors again.
    """
    named = list(model.named_parameters()) + list(model.named_buffers())
    return {name: t.detach() for name, t in named}


@dataclass
class MMEngineSide:
    """What real mmengine did to one model (see the module docstring).

    Attributes:
        case: the config.
        removed: the download pointers taken out of the config.
        values: every tensor after mmengine's init (seed 1).
        info: mmengine's ``_params_init_info`` text per parameter.
        laws: the law of the fill that last wrote each tensor, when known and still holding.
        law_text: the fill (or why no law is known) per tensor.
        deterministic: names of the tensors equal under seeds 1 and 2.
        modules: ``type(module)`` per qualified module name ('' is the root).
        plain: modules without an ``init_weights`` (plain containers): mmengine stops there.
        conv_modules: mmcv ``ConvModule``s whose ``init_weights`` mmengine calls (no plain ancestor).
        init_cfgs: the ``init_cfg`` of every module that has one, as built.
        init_seconds: mmengine's ``init_weights`` wall time (seed 1).
    """

    case: Case
    removed: list[str]
    values: dict[str, torch.Tensor]
    info: dict[str, str]
    laws: dict[str, D.Dist | None]
    law_text: dict[str, str]
    deterministic: set[str]
    modules: dict[str, type]
    plain: set[str]
    conv_modules: set[str]
    init_cfgs: dict[str, Any]
    init_seconds: float


@dataclass
class TorchinitRun:
    """One torchinit ``init_weights`` run on a freshly built model.

    Attributes:
        mode: a key of :data:`MODES`.
        values: every tensor afterwards.
        report: torchinit's ``InitReport``, as ``init_weights`` returned it.
        laws: per tensor, the law of the ``torch.nn.init`` fill that last wrote it in this run, if known.
        init_seconds: wall time of ``init_weights``.
        warnings: the text of every ``torchinit.InitWarning`` the run raised (other warnings go on
            to pytest's filters as usual).
    """

    mode: str
    values: dict[str, torch.Tensor]
    report: Any
    laws: dict[str, D.Dist | None]
    init_seconds: float
    warnings: list[str]


def _ancestors(path: str) -> list[str]:
    parts = path.split(".") if path else []
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _structure(model: nn.Module) -> tuple[dict[str, type], set[str], set[str], dict[str, Any]]:
    from mmcv.cnn import ConvModule

    modules = {name: type(m) for name, m in model.named_modules()}
    plain = {name for name, m in model.named_modules() if name and not hasattr(m, "init_weights")}
    conv_modules = {name for name, m in model.named_modules()
                    if isinstance(m, ConvModule) and not any(a in plain for a in _ancestors(name))}
    init_cfgs = {name: m.init_cfg for name, m in model.named_modules() if getattr(m, "init_cfg", None)}
    return modules, plain, conv_modules, init_cfgs


def _laws(model: nn.Module, log: FillLog) -> tuple[dict[str, D.Dist | None], dict[str, str]]:
    laws: dict[str, D.Dist | None] = {}
    texts: dict[str, str] = {}
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        laws[name], texts[name] = log.law_of(tensor)
    return laws, texts


_ORIGINAL: dict[str, Any] = {}


def mmengine_pristine() -> None:
    """Remember mmengine's ``BaseModule.init_weights`` the first time; afterwards raise if it changed.

    Called before every mmengine run so that no run is silently made through an adoption
    that ``undo()`` failed to remove.
    """
    from mmengine.model import BaseModule

    current = BaseModule.__dict__["init_weights"]
    original = _ORIGINAL.setdefault("init_weights", current)
    if current is not original:
        raise AssertionError(f"mmengine's BaseModule.init_weights is {current!r}, "
                             f"not mmengine's own {original!r}")


@contextlib.contextmanager
def _captured_init_info() -> Iterator[dict[str, str]]:
    """mmengine's per-parameter init text, taken where the top-level ``init_weights`` dumps it."""
    from mmengine.model import BaseModule

    captured: dict[str, str] = {}
    original = BaseModule.__dict__["_dump_init_info"]

    def capture(self: Any) -> None:
        for name, param in self.named_parameters():
            captured[name] = " ".join(self._params_init_info[param]["init_info"].split())

    BaseModule._dump_init_info = capture
    try:
        yield captured
    finally:
        BaseModule._dump_init_info = original


def _quiet_mmengine() -> None:
    from mmengine.logging import MMLogger

    MMLogger.get_current_instance().setLevel(logging.ERROR)


@dataclass
class Pristine:
    """One build of a case that is never initialized itself; runs take deep copies of it.

    Attributes:
        case: the config.
        removed: the download pointers taken out of the config.
        model: the built model.
    """

    case: Case
    removed: list[str]
    model: nn.Module

    def fresh(self, seed: int) -> nn.Module:
        """A deep copy of the build, with torch's global generator seeded for the init that follows."""
        model = copy.deepcopy(self.model)
        torch.manual_seed(seed)
        return model


def build_pristine(case: Case) -> Pristine:
    """Build ``case`` once (seed 1) from its packaged config, downloads removed."""
    mmengine_pristine()
    _quiet_mmengine()
    model_cfg, removed = load_model_cfg(case)
    return Pristine(case, removed, build_model(case, model_cfg, seed=1))


def observe_mmengine(pristine: Pristine) -> MMEngineSide:
    """Init two copies with real mmengine (seeds 11, 12); see the module docstring."""
    mmengine_pristine()
    model = pristine.fresh(seed=11)
    with record_fills() as log, _captured_init_info() as info:
        start = time.perf_counter()
        model.init_weights()
        seconds = time.perf_counter() - start
    values = tensors_of(model)
    laws, law_text = _laws(model, log)
    structure = _structure(model)
    del model
    other = pristine.fresh(seed=12)
    other.init_weights()
    second = tensors_of(other)
    del other
    deterministic = {name for name, v in values.items() if name in second and torch.equal(v, second[name])}
    return MMEngineSide(pristine.case, pristine.removed, values, dict(info), laws, law_text, deterministic,
                        *structure, seconds)


#: The torchinit runs: default mode unseeded (torch's global generator) and seeded (a generator
#: per tensor, on two threads), and mmengine's mode.
MODES: dict[str, dict[str, Any]] = {
    "default": {},
    "default, seed=0": {"seed": 0, "num_threads": 2},
    "compat=mmengine": {"compat": "mmengine"},
}


@contextlib.contextmanager
def _init_warnings() -> Iterator[list[str]]:
    """Collect torchinit's ``InitWarning``s (a test checks each is true); re-raise every other warning."""
    import torchinit

    said: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield said
    for w in caught:
        if issubclass(w.category, torchinit.InitWarning):
            said.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def observe_torchinit(pristine: Pristine) -> dict[str, TorchinitRun]:
    """Adopt torchinit, init a copy in each mode (seeds 13, 14, ...), undo the adoption.

    Every mode is passed as ``init_weights`` arguments, also to roots that override it without
    any (DETR's): the adoption lets those take ``seed=``/``compat=`` for the run they open.
    """
    import torchinit

    mmengine_pristine()
    runs: dict[str, TorchinitRun] = {}
    adoption = torchinit.adopt_mmengine()
    try:
        for i, mode in enumerate(MODES):
            model = pristine.fresh(seed=13 + i)
            with record_fills() as log, _init_warnings() as said:
                start = time.perf_counter()
                report = model.init_weights(**MODES[mode])
                seconds = time.perf_counter() - start
            laws, _ = _laws(model, log)
            runs[mode] = TorchinitRun(mode, tensors_of(model), report, laws, seconds, said)
            del model
    finally:
        adoption.undo()
    mmengine_pristine()
    return runs

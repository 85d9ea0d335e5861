"""Real mmpretrain / mmdet / mmseg models: torchinit, adopted in one line, against real mmengine.

Each case is a config shipped inside the package's wheel (``openmmlab_models.CASES``), built
without weights: every ``Pretrained`` init_cfg and ``pretrained=`` argument is removed from the
config first (the model then uses its authors' from-scratch init; see ``load_model_cfg``), and
any network connection fails the run (``conftest.no_network``).

Per case, the model is built once; copies of that build are initialized by real mmengine (twice,
to tell fixed tensors from random ones), then ``torchinit.adopt_mmengine()`` is called and a copy
is initialized in each torchinit mode; ``undo()`` restores mmengine before the next case.
Every tensor is compared (see ``_compare``): bits for fixed tensors, mean and std against the law
of the fill that wrote it for random ones. ``compat='mmengine'`` must agree everywhere; the default
mode may differ only where a row of README's "Differences from mmengine" explains it
(``_differences``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

import _differences
import openmmlab_shim
from _compare import Expectation, check_one, compare, expectations
from _dists import check_sample
from _mm_info import law_from_info
from _observe import MMEngineSide, TorchinitRun, build_pristine, observe_mmengine, observe_torchinit
from openmmlab_models import CASES, Case

@dataclass
class Observed:
    case: Case
    mm: MMEngineSide
    expected: dict[str, Expectation]
    runs: dict[str, TorchinitRun]


@pytest.fixture(scope="module", params=CASES, ids=lambda case: case.id)
def observed(request: pytest.FixtureRequest) -> Observed:
    case: Case = request.param
    try:
        pristine = build_pristine(case)
        mm = observe_mmengine(pristine)
        runs = observe_torchinit(pristine)
    except Exception as exc:
        stubbed = openmmlab_shim.stubbed_op_in(exc)
        if stubbed is None:
            raise
        pytest.skip(f"{case.id} calls a compiled mmcv op while it is built or initialized: {stubbed}")
    return Observed(case, mm, expectations(mm), runs)


def _listing(items: list[Any], limit: int = 25) -> str:
    lines = [str(x) for x in items[:limit]]
    if len(items) > limit:
        lines.append(f"... and {len(items) - limit} more")
    return "\n".join(lines)


def test_the_config_points_to_no_weights(observed: Observed) -> None:
    """What was removed is listed in the case's config text; nothing Pretrained is left on any module."""
    left = {path: cfg for path, cfg in observed.mm.init_cfgs.items() if "Pretrained" in repr(cfg)}
    assert not left, f"Pretrained init_cfg left after removal: {left}"
    for entry in observed.mm.removed:
        assert "Pretrained" in entry or "pretrained" in entry


def test_mmengine_tensors_keep_the_law_of_the_fill_that_wrote_them(observed: Observed) -> None:
    """The harness's reading of mmengine is right: its own tensors pass the checks built from it."""
    mm = observed.mm
    bad = [f"{name}: {problem}" for name, exp in observed.expected.items()
           if (problem := check_one(mm.values[name], mm.values[name], exp)) is not None
           or (exp.kind == "law" and (problem := check_sample(mm.values[name], exp.law)) is not None)]
    assert not bad, _listing(bad)
    assert sum(e.kind != "sample" for e in observed.expected.values()) >= 0.9 * len(observed.expected)


def test_mmengine_own_words_name_the_law_its_tensors_have(observed: Observed) -> None:
    """Where ``_params_init_info`` names an initializer (``KaimingInit: a=0, mode=fan_out, ...``),
    the tensor keeps that initializer's law: the fill log and mmengine tell the same story."""
    mm = observed.mm
    named = {name: law_from_info(text, name, tuple(mm.values[name].shape)) for name, text in mm.info.items()}
    bad = [f"{name} [{mm.info[name]}]: {problem}" for name, law in named.items()
           if law is not None and (problem := check_sample(mm.values[name], law)) is not None]
    assert not bad, _listing(bad)


def test_compat_mode_agrees_with_mmengine_on_every_tensor(observed: Observed) -> None:
    run = observed.runs["compat=mmengine"]
    mismatches = compare(run.values, observed.mm, observed.expected)
    assert not mismatches, _listing(mismatches)


@pytest.mark.parametrize("mode", ["default", "default, seed=0"])
def test_default_mode_agrees_with_mmengine_except_where_the_readme_says_why(observed: Observed,
                                                                           mode: str) -> None:
    run = observed.runs[mode]
    unexplained = []
    for mismatch in compare(run.values, observed.mm, observed.expected):
        explained = _differences.explain(observed.case.id, mismatch, observed.mm, run)
        if explained is None:
            known = run.report is not None and mismatch.name in run.report
            record = run.report[mismatch.name].describe() if known else "?"
            unexplained.append(f"{mismatch} (torchinit's report: {record})")
        else:
            _differences.EXPLAINED.append(explained)
    assert not unexplained, _listing(unexplained)


def test_torchinit_reports_a_source_for_every_tensor_mmengine_changed(observed: Observed) -> None:
    """No silent "not changed by init_weights" where mmengine's own log says the tensor changed."""
    for mode, run in observed.runs.items():
        assert run.report is not None, f"{mode}: init_weights returned no report"
        silent = [name for name, text in observed.mm.info.items()
                  if not text.startswith("The value is the same") and run.report[name].source == "none"]
        assert not silent, f"{mode}: " + _listing(silent)


_NO_MATCH = re.compile(r"layer='([^']+)' of .* matches no module under (\S+) \(")


def _matches(cls: type, name: str, mmengine_rule: bool) -> bool:
    """mmengine matches a class's name and its direct bases' names; torchinit's default, the whole MRO."""
    classes = (cls, *cls.__bases__) if mmengine_rule else cls.__mro__
    return any(c.__name__ == name for c in classes)


def test_every_torchinit_warning_is_true(observed: Observed) -> None:
    """A "matches no module" warning names a layer that truly matches nothing under that module,
    by mmengine's rule in compat mode and through the class hierarchy in the default mode."""
    modules = observed.mm.modules
    wrong = []
    for mode, run in observed.runs.items():
        for text in run.warnings:
            found = _NO_MATCH.search(text)
            if found is None:
                wrong.append(f"{mode}: unexpected warning {text!r}")
                continue
            layer, owner = found.group(1), "" if found.group(2) == "the" else found.group(2)
            under = [p for p in modules if owner == "" or p == owner or p.startswith(owner + ".")]
            hits = [p for p in under if _matches(modules[p], layer, mode == "compat=mmengine")]
            if hits:
                wrong.append(f"{mode}: {text!r}, but {layer} matches {hits[:3]}")
    assert not wrong, _listing(wrong)


def test_every_explaining_row_is_still_in_the_readme() -> None:
    rows = _differences.readme_rows()
    missing = [row for row in _differences.ROWS if row not in rows]
    assert not missing, f"README's differences table has no row {missing}; it has {rows}"


def test_the_cases_cover_every_family_issue_10_names() -> None:
    families = {case.family for case in CASES}
    wanted = {"ResNet", "ConvNeXt", "ViT", "DeiT", "Swin", "MAE", "RetinaNet", "FCOS", "ATSS", "Faster R-CNN",
              "Mask R-CNN", "YOLOv3", "RTMDet", "DETR", "Deformable DETR", "PSPNet", "DeepLabV3", "SegFormer",
              "UperNet-Swin"}
    assert wanted <= families and len(CASES) >= 30

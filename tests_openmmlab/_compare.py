"""Tensor-by-tensor comparison of a torchinit run with what mmengine did.

Per tensor, mmengine's outcome becomes one expectation, strongest first:

* ``exact``: the tensor came out identical under two seeds in mmengine (a constant, a bias,
  a norm's 1/0, a sin-cos table, an index buffer): torchinit must produce the same bits.
* ``law``: the fill that last wrote it is known (:mod:`_fill_log`): torchinit's values must keep
  that law (mean and std within the size-dependent band, bounds held; :mod:`_dists`).
* ``sample``: random, but written by code whose law is not known by name: torchinit's sample and
  mmengine's must plausibly share one law.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

import _dists as D
from _observe import MMEngineSide

__all__ = ["Expectation", "Mismatch", "compare", "expectations"]


@dataclass(frozen=True)
class Expectation:
    """What mmengine did to one tensor, as a check for another run.

    Attributes:
        kind: ``'exact'``, ``'law'`` or ``'sample'`` (see the module docstring).
        law: the law for ``'law'``.
        text: mmengine's own words and the fill, for messages.
    """

    kind: Literal["exact", "law", "sample"]
    law: D.Dist | None
    text: str


@dataclass(frozen=True)
class Mismatch:
    """One tensor where a run does not agree with mmengine."""

    name: str
    expected: str
    problem: str

    def __str__(self) -> str:
        return f"{self.name}: mmengine {self.expected}; torchinit {self.problem}"


def expectations(mm: MMEngineSide) -> dict[str, Expectation]:
    """The expectation for every tensor of ``mm`` (see the module docstring)."""
    out: dict[str, Expectation] = {}
    for name, value in mm.values.items():
        said = mm.info.get(name, "(a buffer: mmengine records nothing)")
        if name in mm.deterministic:
            out[name] = Expectation("exact", None, f"[{said}] gives the same bits under any seed")
        elif mm.laws.get(name) is not None:
            law = mm.laws[name]
            out[name] = Expectation("law", law, f"[{said}] draws {law.text}")
        else:
            out[name] = Expectation("sample", None, f"[{said}] draws by {mm.law_text.get(name)}")
    return out


def _describe_exact(reference: torch.Tensor) -> str:
    flat = reference.reshape(-1)
    if flat.numel() and torch.equal(flat, flat[:1].expand_as(flat)):
        return f"every value {flat[0].item():g}"
    if not reference.is_floating_point():
        return "a fixed integer table"
    return f"a fixed table (mean {reference.double().mean().item():.4g})"


def check_one(value: torch.Tensor, reference: torch.Tensor, expectation: Expectation) -> str | None:
    """None if ``value`` agrees with mmengine's ``reference`` under ``expectation``, else the problem."""
    if value.shape != reference.shape or value.dtype != reference.dtype:
        return (f"has shape {tuple(value.shape)} {value.dtype}, "
                f"mmengine {tuple(reference.shape)} {reference.dtype}")
    if expectation.kind == "exact":
        if torch.equal(value, reference):
            return None
        differ = int((value != reference).sum())
        got = _describe_exact(value) if differ else ""
        return (f"differs in {differ} of {value.numel()} values from {_describe_exact(reference)} "
                f"({got or 'random'})")
    if expectation.kind == "law":
        assert expectation.law is not None
        return D.check_sample(value, expectation.law)
    return D.check_same_distribution(value, reference)


def compare(values: dict[str, torch.Tensor], mm: MMEngineSide,
            expected: dict[str, Expectation]) -> list[Mismatch]:
    """Every tensor where ``values`` does not agree with mmengine, in the model's order."""
    mismatches = []
    for name, reference in mm.values.items():
        if name not in values:
            mismatches.append(Mismatch(name, expected[name].text, "has no such tensor"))
            continue
        problem = check_one(values[name], reference, expected[name])
        if problem is not None:
            mismatches.append(Mismatch(name, expected[name].text, problem))
    mismatches += [Mismatch(name, "has no such tensor", "has it") for name in values if name not in mm.values]
    return mismatches

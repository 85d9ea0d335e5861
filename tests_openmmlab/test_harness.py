"""The checks the model tests rely on can fail: wrong laws, wrong constants, stray values are caught."""

from __future__ import annotations

import math

import pytest
import torch

import _dists as D
import openmmlab_shim
from _fill_log import record_fills
from _mm_info import law_from_info

CONV = (64, 64, 3, 3)  # 36,864 values


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_a_kaiming_sample_keeps_the_kaiming_law() -> None:
    t = torch.empty(CONV)
    torch.nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu", generator=_gen())
    assert D.check_sample(t, D.kaiming(CONV, 0, "fan_out", "relu", "normal")) is None


def test_a_xavier_sample_fails_the_kaiming_law_of_the_same_conv() -> None:
    t = torch.empty(CONV)
    torch.nn.init.xavier_uniform_(t, generator=_gen())
    problem = D.check_sample(t, D.kaiming(CONV, 0, "fan_out", "relu", "normal"))
    assert problem is not None and "std" in problem


def test_a_fan_in_kaiming_sample_fails_a_fan_out_law_when_the_fans_differ() -> None:
    shape = (256, 64, 1, 1)
    t = torch.empty(shape)
    torch.nn.init.kaiming_normal_(t, mode="fan_in", nonlinearity="relu", generator=_gen())
    assert D.check_sample(t, D.kaiming(shape, 0, "fan_out", "relu", "normal")) is not None


def test_a_shifted_mean_fails() -> None:
    t = torch.empty(CONV).normal_(0.001, 0.01, generator=_gen())
    problem = D.check_sample(t, D.normal(0.0, 0.01))
    assert problem is not None and "mean" in problem


def test_a_one_percent_wrong_std_fails_on_a_large_tensor() -> None:
    t = torch.empty(768, 3072).normal_(0.0, 0.0202, generator=_gen())
    assert D.check_sample(t, D.normal(0.0, 0.02)) is not None


def test_uniform_values_outside_the_bounds_fail() -> None:
    t = torch.empty(CONV).uniform_(-0.1, 0.1, generator=_gen())
    t[0, 0, 0, 0] = 0.2
    problem = D.check_sample(t, D.uniform(-0.1, 0.1))
    assert problem is not None and "max" in problem


def test_the_truncated_normal_moments_match_a_large_sample() -> None:
    law = D.truncated_normal(0.5, 1.0, 0.0, 2.0)
    t = torch.empty(2_000_000)
    torch.nn.init.trunc_normal_(t, 0.5, 1.0, 0.0, 2.0, generator=_gen())
    assert law.mean == pytest.approx(float(t.double().mean()), abs=3e-3)
    assert law.std == pytest.approx(float(t.double().std()), rel=3e-3)
    assert D.check_sample(t, law) is None


def test_a_constant_must_hold_in_every_element() -> None:
    t = torch.zeros(100)
    assert D.check_sample(t, D.constant(0.0)) is None
    t[17] = 1e-30
    problem = D.check_sample(t, D.constant(0.0))
    assert problem is not None and "1 of 100" in problem


def test_one_value_on_a_far_bound_is_set_aside_but_many_are_not() -> None:
    law = D.truncated_normal(0.0, 0.02, -2.0, 2.0)
    t = torch.empty(768, 768).normal_(0.0, 0.02, generator=_gen())
    t[0, 0] = -2.0  # what mmengine's trunc_normal_ writes when its uniform draw is exactly -1
    assert D.check_sample(t, law) is None
    t[1, :10] = 2.0
    assert D.check_sample(t, law) is not None


def test_samples_of_two_different_laws_are_told_apart() -> None:
    a = torch.empty(CONV).normal_(0.0, 0.059, generator=_gen(1))
    b = torch.empty(CONV).normal_(0.0, 0.059, generator=_gen(2))
    c = torch.empty(CONV).normal_(0.0, 0.042, generator=_gen(3))
    assert D.check_same_distribution(a, b) is None
    assert D.check_same_distribution(c, b) is not None


def test_the_fill_log_names_the_outermost_fill_and_forgets_it_after_a_later_write() -> None:
    conv = torch.nn.Conv2d(16, 32, 3)
    with record_fills() as log:
        torch.nn.init.kaiming_normal_(conv.weight, mode="fan_out")
        torch.nn.init.constant_(conv.bias, 0.5)
    law, text = log.law_of(conv.weight)
    assert law is not None and text.startswith("kaiming_normal_(") and "fan_out" in law.text
    assert log.law_of(conv.bias)[0] == D.constant(0.5)
    with torch.no_grad():
        conv.weight.data.mul_(2)
    assert log.law_of(conv.weight)[0] is None
    assert torch.nn.init.kaiming_normal_.__module__ == "torch.nn.init"  # the wrappers are gone


def test_mmengine_text_reads_back_as_the_law_it_names() -> None:
    info = "KaimingInit: a=0, mode=fan_out, nonlinearity=relu, distribution =normal, bias=0"
    law = law_from_info(info, "backbone.conv1.weight", CONV)
    assert law is not None and math.isclose(law.std, math.sqrt(2 / (64 * 9)))
    assert law_from_info(info, "backbone.conv1.bias", (64,)) == D.constant(0.0, "KaimingInit bias=0")
    user = "Initialized by user-defined `init_weights` in ConvModule"
    assert law_from_info(user, "conv.weight", CONV) is None


def test_a_compiled_mmcv_op_raises_when_called_not_when_imported() -> None:
    import mmcv.ops  # noqa: F401  (imports through the stand-in for mmcv._ext)
    from mmcv.ops.nms import ext_module

    with pytest.raises(openmmlab_shim.StubbedOpCalled, match="nms") as raised:
        ext_module.nms(torch.zeros(1, 4), torch.zeros(1), iou_threshold=0.5, offset=0)
    try:
        raise ValueError("a library wrapped it") from raised.value
    except ValueError as wrapped:
        assert openmmlab_shim.stubbed_op_in(wrapped) is raised.value
    assert openmmlab_shim.stubbed_op_in(ValueError("unrelated")) is None


def test_mmdet_and_mmseg_import_on_mmcv_2_2_with_only_the_version_bound_relaxed() -> None:
    import mmcv
    import mmdet
    import mmseg

    assert mmcv.__version__ == "2.2.0"
    assert mmdet.mmcv_maximum_version == "2.2.1" and mmseg.MMCV_MAX == "2.2.1"

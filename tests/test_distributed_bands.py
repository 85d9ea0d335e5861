"""The band seed scheme in one process: what a seeded tensor's values are, band by band."""

from __future__ import annotations

import math

from typing import Any

import pytest
import torch

import torchinit
from torch import nn

from torchinit import WEIGHT_INITIALIZERS, ConfigValueError, InitStateError, initialize, reproducibility_record
from torchinit._txn import derive_seed
from torchinit.distributed import BAND_ELEMENTS, SCHEME
from torchinit.diagnostics._promises import fan_of, scaling_of
from torchinit.distributed.bands import BandGrid, band_draw, band_size
import threading

from torchinit.distributed.fills import BATCH_ELEMENTS, PIECE_OVERHEAD, Piece, _draw_bands, batches, run_all
from torchinit.distributed.sharded import Box

from _distributed_cases import ARGS, built, initializer_cases

ELEMENTWISE = {"Caffe2Xavier", "Constant", "DepthScaledNormal", "EmbeddingNormal", "Kaiming", "LeCunNormal",
               "LeCunUniform", "Normal", "Ones", "TruncNormal", "TruncNormalTF", "Uniform", "VarianceScaling",
               "Xavier", "Zeros"}
WHOLE_TENSOR = {"Arange", "DeltaOrthogonal", "Dirac", "Eye", "FromModule", "Orthogonal", "Sparse"}


def _holder(shape: tuple[int, ...]) -> nn.Module:
    module = nn.Module()
    module.weight = nn.Parameter(torch.zeros(shape))
    return module


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_every_registered_initializer_is_either_drawn_by_bands_or_whole() -> None:
    names = {n for n in WEIGHT_INITIALIZERS.names() if WEIGHT_INITIALIZERS.get(n).__module__.startswith("torchinit.")
             and not issubclass(WEIGHT_INITIALIZERS.get(n), torchinit.BaseInit)}  # module-level rules fill no tensor
    names -= {"Pretrained"}
    assert names <= ELEMENTWISE | WHOLE_TENSOR, "classify the new initializer here and in docs/distributed.md"
    for name in names:
        init = WEIGHT_INITIALIZERS.build(dict(type=name, **ARGS.get(name, {})))
        assert (band_draw(init, (64, 48)) is not None) == (name in ELEMENTWISE), name


@pytest.mark.parametrize("case", initializer_cases(), ids=lambda c: f"{c[0]}-{'x'.join(map(str, c[2]))}")
def test_a_tensor_of_one_band_keeps_the_values_of_one_generator_seeded_by_its_name(case: tuple) -> None:
    name, rule, shape = case
    model = _holder(shape)
    initialize(model, rule, seed=7)
    want = torch.zeros(shape)
    init = built(rule)
    init.fill(want, generator=_generator(derive_seed(7, "weight")) if init.random else None)
    assert torch.equal(model.weight.detach(), want)


def test_a_tensor_of_several_bands_draws_each_band_from_its_own_generator() -> None:
    model = _holder((50, 30))
    with band_size(64):  # 2 rows of 30 per band: 25 bands
        initialize(model, dict(type="Normal", std=0.02, param="weight"), seed=3)
    want = torch.empty(50, 30)
    for k in range(25):
        want[2 * k : 2 * k + 2].normal_(0, 0.02, generator=_generator(derive_seed(3, f"weight\x00band\x00{k}")))
    assert torch.equal(model.weight.detach(), want)


def test_tensors_of_one_shape_and_rule_share_a_band_draw_but_not_their_seeds() -> None:
    """A run makes one band draw per initializer and shape (``Transaction.draws``): each tensor
    still gets the bands of its own name, and a tensor of another dtype its own checks."""
    model = nn.Module()
    model.a, model.b = nn.Linear(30, 50), nn.Linear(30, 50)
    model.c = nn.Linear(30, 50).to(torch.float64)
    model.d = nn.Linear(30, 50)  # the same shape, another initializer
    cfg = dict(type="Kaiming", layer="Linear", bias=0, override=dict(name="d", type="Normal", std=0.5))
    with band_size(64):  # 2 rows of 30 per band: 25 bands each
        initialize(model, cfg, seed=3)
    kaiming = math.sqrt(2.0 / 50)  # mmengine's Kaiming: relu's gain, fan_out of the global shape
    for name, std in (("a", kaiming), ("b", kaiming), ("c", kaiming), ("d", 0.5)):
        weight = getattr(model, name).weight.detach()
        want = torch.empty(50, 30, dtype=weight.dtype)
        for k in range(25):
            want[2 * k : 2 * k + 2].normal_(0, std, generator=_generator(derive_seed(3, f"{name}.weight\x00band\x00{k}")))
        assert torch.equal(weight, want), name
    assert not torch.equal(model.a.weight, model.b.weight)


@pytest.mark.parametrize("init_cfg", [dict(type="Normal", std=0.5), dict(type="TruncNormal", std=1.0, a=-0.5, b=0.5)])
def test_bands_of_a_few_elements_each_start_from_a_fresh_generator(init_cfg: dict) -> None:
    """One generator object is reseeded for each band of a piece: the draws of the band before
    (a normal sample torch keeps in the generator for the next call on fewer than 16 elements,
    TruncNormal's redraws) must not reach the next band."""
    model = _holder((9,))
    with band_size(3):  # bands of 3, 3 and 3 elements, all in one piece
        initialize(model, dict(init_cfg, param="weight"), seed=4)
    init = WEIGHT_INITIALIZERS.build(init_cfg)
    want = torch.empty(9)
    for k in range(3):
        init.fill(want[3 * k : 3 * k + 3], generator=_generator(derive_seed(4, f"weight\x00band\x00{k}")))
    assert torch.equal(model.weight.detach(), want)


@pytest.mark.parametrize("box", [((0, 0), (50, 30)), ((13, 0), (17, 30)), ((0, 7), (50, 11)), ((21, 3), (1, 26)),
                                 ((49, 0), (1, 30)), ((5, 0), (0, 30))])
def test_any_part_of_a_tensor_is_drawn_with_the_values_the_whole_tensor_has_there(box: tuple) -> None:
    init = WEIGHT_INITIALIZERS.build(dict(type="TruncNormal", std=1.0, a=-1.5, b=1.5))  # with redraws
    with band_size(64):
        grid = BandGrid.of((50, 30))
        draw = band_draw(init, grid.shape)
        assert draw is not None
        full = torch.empty(50, 30)
        _draw_bands(draw, grid, 0, "w", full, Box((0, 0), (50, 30)), range(grid.count))
        part = Box(*box)
        local = torch.empty(part.sizes)
        _draw_bands(draw, grid, 0, "w", local, part, grid.overlapping(part.offsets[0], part.offsets[0] + part.sizes[0]))
    assert torch.equal(local, full[part.slices()])


def test_the_values_do_not_depend_on_the_number_of_threads() -> None:
    def run(threads: int) -> dict[str, torch.Tensor]:
        model = nn.Sequential(nn.Linear(2048, 2048), nn.Linear(2048, 512), nn.Embedding(3000, 512))
        initialize(model, [dict(type="TruncNormal", std=0.02, layer=["Linear", "Embedding"]),
                           dict(type="Kaiming", layer="Linear", override=dict(name="1"))], seed=0, num_threads=threads)
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    one, two, three = run(1), run(2), run(3)
    assert all(torch.equal(one[k], two[k]) and torch.equal(one[k], three[k]) for k in one)


def test_run_all_runs_every_task_once_on_the_calling_thread_and_the_others() -> None:
    seen: list[tuple[int, int]] = []
    gate = threading.Barrier(2, timeout=10)  # the first two tasks wait for each other: two threads run them

    def task(i: int) -> None:
        if i < 2:
            gate.wait()
        seen.append((i, threading.get_ident()))

    run_all([lambda i=i: task(i) for i in range(50)], threads=2)
    assert sorted(i for i, _ in seen) == list(range(50))
    assert threading.get_ident() in {t for _, t in seen} and len({t for _, t in seen}) == 2


def test_run_all_gives_the_light_tasks_to_the_calling_thread_first() -> None:
    for threads in (1, 2):
        order: list[tuple[str, int]] = []
        light_started = threading.Event()  # heavy tasks wait for it: only a thread that prefers light starts it

        def heavy(i: int) -> None:
            assert light_started.wait(timeout=10)
            order.append((f"heavy{i}", threading.get_ident()))

        def light(i: int) -> None:
            light_started.set()
            order.append((f"light{i}", threading.get_ident()))

        run_all([lambda i=i: heavy(i) for i in range(3)], threads, light=[lambda i=i: light(i) for i in range(3)])
        assert dict(order)["light0"] == threading.get_ident()
        assert sorted(name for name, _ in order) == [f"{k}{i}" for k in ("heavy", "light") for i in range(3)]


def test_run_all_raises_the_first_error_after_every_task_has_run() -> None:
    done: list[int] = []

    def task(i: int) -> None:
        if i in (3, 7):
            raise ValueError(f"task {i}")
        done.append(i)

    with pytest.raises(ValueError, match="task"):
        run_all([lambda i=i: task(i) for i in range(20)], threads=3)
    assert sorted(done) == [i for i in range(20) if i not in (3, 7)]


def test_run_all_takes_tasks_from_a_generator_and_raises_what_it_raises() -> None:
    def tasks():
        yield lambda: None
        raise KeyError("cut")

    with pytest.raises(KeyError, match="cut"):
        run_all(tasks(), threads=2)


def test_batches_put_the_largest_first_alone_and_the_small_ones_together() -> None:
    sizes = [5, BATCH_ELEMENTS * 3, 7, BATCH_ELEMENTS, BATCH_ELEMENTS // 2, BATCH_ELEMENTS // 2]
    tasks = batches([("w", Piece(n, lambda: None)) for n in sizes], lambda pair: pair[1].elements)
    assert [[p.elements for _, p in task] for task in tasks] == [
        [BATCH_ELEMENTS * 3], [BATCH_ELEMENTS], [BATCH_ELEMENTS // 2, BATCH_ELEMENTS // 2], [7, 5]]
    many = batches(list(range(100)), lambda n: 1)  # a hundred tiny biases: their overhead counts too
    per = -(-BATCH_ELEMENTS // (1 + PIECE_OVERHEAD))
    assert [len(task) for task in many] == [per] * (100 // per) + ([100 % per] if 100 % per else [])


def test_progress_of_a_threaded_seeded_fill_counts_every_element_once() -> None:
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        calls.append((done, total))

    progress._torchinit_trusted = True  # type: ignore[attr-defined]  # as the CLI's bar: the threaded path
    model = nn.Sequential(nn.Linear(2048, 1024), nn.Linear(1024, 16), nn.LayerNorm(16))
    initialize(model, [dict(type="Normal", std=0.02, layer="Linear"), dict(type="Constant", val=1, layer="LayerNorm")],
               seed=0, num_threads=2, progress=progress)
    total = sum(p.numel() for p in model.parameters())
    assert calls[-1] == (total, total) and len(calls) == len(list(model.parameters()))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_fans_come_from_the_whole_tensor_not_from_its_band() -> None:
    model = _holder((1024, 256))
    with band_size(1 << 12):  # 16 rows per band: a band's own fan_out would give std 0.35
        initialize(model, dict(type="Kaiming", mode="fan_out", param="weight"), seed=0)
    assert float(model.weight.detach().std()) == pytest.approx((2 / 1024) ** 0.5, rel=0.02)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_a_band_draw_on_one_band_is_the_initializers_own_fill(name: str) -> None:
    init = WEIGHT_INITIALIZERS.build(dict(type=name, **ARGS.get(name, {})))
    draw = band_draw(init, (64, 48))
    assert draw is not None
    got, want = torch.empty(64, 48), torch.empty(64, 48)
    draw(got, _generator(5), 0)
    init.fill(want, generator=_generator(5))
    torch.testing.assert_close(got, want, rtol=1e-6, atol=0)


@pytest.mark.parametrize("grad", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("cfg", [dict(type="Normal", mean=0.5, std=0.2), dict(type="Uniform", a=-0.3, b=0.7),
                                 dict(type="Kaiming", mode="fan_out"), dict(type="Xavier", distribution="uniform")])
def test_a_band_draw_is_bitwise_the_functional_fill_in_either_grad_mode(
    cfg: dict[str, Any], dtype: torch.dtype, grad: bool
) -> None:
    """Band draws call torch's op directly (their arguments checked once per dtype): the
    values are bitwise those of torchinit.functional's fill with the same arguments, on a
    parameter that requires grad, whether or not the caller turned grad off."""
    init = WEIGHT_INITIALIZERS.build(cfg)
    shape = (64, 48)
    draw = band_draw(init, shape)
    assert draw is not None
    scaling = scaling_of(init)
    for _ in range(2):  # the second call takes the checked arguments
        got = nn.Parameter(torch.empty(shape, dtype=dtype))
        with torch.set_grad_enabled(grad):
            draw(got, _generator(3), 0)
        want = torch.empty(shape, dtype=dtype)
        if scaling is None:
            init.fill(want, generator=_generator(3))
        else:
            gain, mode, distribution = scaling
            std = abs(gain) / fan_of(shape, mode) ** 0.5
            if distribution == "normal":
                torchinit.functional.normal_(want, 0.0, std, generator=_generator(3))
            else:
                bound = 3.0**0.5 * std
                torchinit.functional.uniform_(want, -bound, bound, generator=_generator(3))
        assert torch.equal(got.detach(), want)
        assert got.requires_grad and got.grad_fn is None


@pytest.mark.parametrize("grad", [True, False])
@pytest.mark.parametrize("val", [1.0, 0.0, -0.0, -3.0, 0.1])
def test_a_constants_draw_is_bitwise_constant_in_every_dtype(val: float, grad: bool) -> None:
    """A constant's draw (what the commit runs for a norm weight or a bias) writes what
    torchinit.functional.constant_ writes, sign of zero included, and leaves no graph."""
    init = WEIGHT_INITIALIZERS.build(dict(type="Constant", val=val))
    draw = band_draw(init, (7, 3))
    assert draw is not None
    dtypes = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64]
    dtypes += [torch.int64, torch.int8] if val.is_integer() else []
    for dtype in dtypes * 2:  # the second time takes the value checked for the dtype
        got = torch.full((7, 3), 5, dtype=dtype)
        got = nn.Parameter(got) if dtype.is_floating_point else got
        with torch.set_grad_enabled(grad):
            draw(got, None, 0)
        want = torchinit.functional.constant_(torch.empty((7, 3), dtype=dtype), val)
        assert torch.equal(got.detach(), want) and got.grad_fn is None
        if dtype.is_floating_point:
            assert torch.equal(torch.signbit(got.detach()), torch.signbit(want))


def test_a_constants_draw_checks_the_value_for_each_dtype_it_meets() -> None:
    draw = band_draw(WEIGHT_INITIALIZERS.build(dict(type="Constant", val=0.5)), (4,))
    assert draw is not None
    draw(torch.empty(4), None, 0)
    for _ in range(2):  # a failed check is not remembered
        with pytest.raises(ConfigValueError, match="truncated"):
            draw(torch.empty(4, dtype=torch.int32), None, 0)
    big = band_draw(WEIGHT_INITIALIZERS.build(dict(type="Constant", val=1e5)), (4,))
    assert big is not None
    with pytest.raises(ConfigValueError, match="float16"):
        big(torch.empty(4, dtype=torch.float16), None, 0)


def test_a_band_draw_checks_its_arguments_for_each_dtype_it_meets() -> None:
    draw = band_draw(WEIGHT_INITIALIZERS.build(dict(type="Normal", std=1e4)), (8, 8))
    assert draw is not None
    draw(torch.empty(8, 8), _generator(0), 0)  # fine in float32
    with pytest.raises(ConfigValueError, match="float16"):
        draw(torch.empty(8, 8, dtype=torch.float16), _generator(0), 0)
    with pytest.raises(ConfigValueError, match="float16"):  # and again: a failed check is not remembered
        draw(torch.empty(8, 8, dtype=torch.float16), _generator(0), 0)


def test_band_size_takes_a_positive_number_of_elements() -> None:
    with pytest.raises(ConfigValueError, match="positive int"):
        with band_size(0):
            pass
    assert BandGrid.of((1000, 1000)).band_rows == BAND_ELEMENTS // 1000


def test_the_reproducibility_record_names_the_seed_scheme() -> None:
    report = initialize(_holder((4, 4)), dict(type="Normal", param="weight"), seed=0)
    assert reproducibility_record(report)["seed_scheme"]["name"] == SCHEME
    unseeded = initialize(_holder((4, 4)), dict(type="Normal", param="weight"))
    assert reproducibility_record(unseeded)["seed_scheme"] is None



def test_init_weights_on_meta_tensors_raises_and_points_to_materialize() -> None:
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(4, 4))
    with pytest.raises(InitStateError, match=r"0\.weight is on the meta device.*materialize"):
        initialize(model, dict(type="Kaiming", layer="Linear"), seed=0)
    assert all(p.is_meta for p in model.parameters())

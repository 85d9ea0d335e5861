"""Generated layouts that try to break the sharding promise, all ranks simulated in one process.

The promise (docs/distributed.md): with a seed, every rank's shard of a DTensor holds exactly
the values one process gives that part of the plain tensor, whatever the mesh, the
placements (uneven and empty shards included), the band size and ``torch.manual_seed``;
whether ``initialize`` fills it or ``materialize`` allocates and fills it from the meta
device; and ``Pretrained`` copies each rank its part of the checkpoint's tensor.

Each simulated rank joins a process group of torch's ``fake`` backend (no communication:
torchinit's sharded fills need none) and builds its own mesh; its mesh dimensions carry the
rank in their names, so that DTensor's caches, which compare meshes by value, never hand one
rank's mesh to another. Where a rank's part sits in the global tensor comes from torch
(``compute_local_shape_and_global_offset``), not from torchinit. The gloo tests
(tests/test_distributed.py) check real ranks; this file tries many more layouts.
``TORCHINIT_HYPOTHESIS_EXAMPLES`` runs more examples.
"""

from __future__ import annotations

import functools
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import torch
import torch.distributed as dist
from _examples import property_settings
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import nn

import torchinit
from torchinit import ConfigValueError, FillInit, TorchInitError
from torchinit import functional as F
from torchinit.config import parse_init_cfg
from torchinit.distributed.bands import band_size

SETTINGS = property_settings(40)


@dataclass(frozen=True, kw_only=True)
class OwnScaled(FillInit):
    """An initializer of the user's own: drawn whole on each rank, which keeps its part."""

    factor: float = 0.3

    def fill(self, tensor: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        return F.normal_(tensor, 1.0, self.factor, generator=generator)


def shifted_uniform(tensor: torch.Tensor, low: float, generator: torch.Generator | None = None) -> None:
    """A plain function as ``type``: drawn whole too."""
    tensor.uniform_(low, low + 1.0, generator=generator)


# Rules tried: every elementwise kind (drawn band by band) and the whole-tensor ones.
RULES: list[dict[str, Any]] = [
    dict(type="Normal", mean=0.5, std=0.2),
    dict(type="Uniform", a=-0.3, b=0.7),
    dict(type="TruncNormal", std=1.0, a=-1.5, b=1.5),  # redraws: a band's draws vary in length
    dict(type="TruncNormalTF", std=0.5),
    dict(type="Constant", val=0.25),
    dict(type="Zeros"),
    dict(type="Kaiming", mode="fan_out", nonlinearity="relu"),
    dict(type="Kaiming", mode="fan_in", distribution="uniform"),
    dict(type="Xavier", gain=2.0),
    dict(type="Xavier", distribution="normal"),
    dict(type="Caffe2Xavier"),
    dict(type="LeCunNormal"),
    dict(type="VarianceScaling", scale=2.0, mode="fan_avg", distribution="truncated_normal"),
    dict(type="EmbeddingNormal", std=0.02, padding_idx=2),
    dict(type="DepthScaledNormal", depth=3),
    dict(type="Orthogonal"),
    dict(type="Eye"),
    dict(type="Dirac"),
    dict(type="Sparse", sparsity=0.3),
    dict(type=OwnScaled),
    dict(type=shifted_uniform, low=-2.0),
]
DTYPES = [torch.float32, torch.float64, torch.bfloat16]


@st.composite
def layouts(draw: Any) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int | None, ...]]:
    """(global shape, mesh shape, placements): a 1-d mesh of 1-5 ranks or a 2-d one of up to
    3x3, each mesh dimension sharding a tensor dimension (its index) or replicating (None)."""
    shape = tuple(draw(st.lists(st.integers(1, 11), min_size=1, max_size=4)))
    one_d, two_d = st.tuples(st.integers(1, 5)), st.tuples(st.integers(1, 3), st.integers(1, 3))
    mesh = tuple(draw(st.one_of(one_d, two_d)))
    placements = tuple(draw(st.one_of(st.none(), st.integers(0, len(shape) - 1))) for _ in mesh)
    return shape, mesh, placements


@pytest.fixture(scope="module")
def api() -> Any:
    """torch.distributed.tensor, and the fake backend, imported when this file's tests run,
    not when the suite is collected: the tests before them run, as most users do, without
    DTensor loaded (torchinit never imports it), and those after with it."""
    pytest.importorskip("torch.testing._internal.distributed.fake_pg")  # registers the backend
    return pytest.importorskip("torch.distributed.tensor")


def _holder(weight: torch.Tensor) -> nn.Module:
    module = nn.Module()
    module.weight = nn.Parameter(weight)
    return module


@contextmanager
def as_rank(rank: int, mesh_shape: tuple[int, ...]) -> Iterator[Any]:
    """This process as ``rank`` of a world of ``prod(mesh_shape)``, and its mesh."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.testing._internal.distributed.fake_pg import FakeStore

    dist.init_process_group("fake", store=FakeStore(), rank=rank, world_size=math.prod(mesh_shape))
    try:
        names = tuple(f"rank{rank}_dim{d}" for d in range(len(mesh_shape)))
        yield init_device_mesh("cpu", mesh_shape, mesh_dim_names=names)
    finally:
        dist.destroy_process_group()


@pytest.fixture(autouse=True)
def _no_process_group() -> Iterator[None]:
    if dist.is_initialized():
        pytest.skip("a process group is already initialized in this process")
    yield
    assert not dist.is_initialized()


Layout = tuple[tuple[int, ...], tuple[int, ...], tuple["int | None", ...]]
Part = tuple[tuple[slice, ...], torch.Tensor]


def shards(
    api: Any,
    layout: Layout,
    dtype: torch.dtype,
    run: Callable[[Any], Any],
    meta: bool = False,
    make: Callable[[torch.Tensor], Any] = _holder,
) -> Iterator[Part]:
    """For each rank of ``layout``: a module (``make(t)``) whose ``weight`` is that rank's
    DTensor ``t`` (its local values NaN, or on the meta device), after ``run(module)``; yields
    (where that rank's part sits in the global tensor, by torch's reckoning; its values)."""
    from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

    shape, mesh_shape, dims = layout
    placements = [api.Replicate() if d is None else api.Shard(d) for d in dims]
    stride = torch.empty(shape).stride()
    for rank in range(math.prod(mesh_shape)):
        with as_rank(rank, mesh_shape) as mesh:
            local_shape, offsets = compute_local_shape_and_global_offset(shape, mesh, placements)
            if meta:
                local = torch.empty(local_shape, dtype=dtype, device="meta")
            else:
                local = torch.full(local_shape, float("nan"), dtype=dtype)
            sharded = api.DTensor.from_local(
                local, mesh, placements, run_check=False, shape=torch.Size(shape), stride=stride
            )
            model = make(sharded)
            assert model.weight.device_mesh.get_coordinate() == mesh.get_coordinate()  # a rank of its own
            torch.manual_seed(rank + 1)  # the global generator plays no part
            run(model)
            assert isinstance(model.weight, api.DTensor)
            assert tuple(model.weight.placements) == tuple(placements)
            got = model.weight.to_local().detach()
        where = tuple(slice(o, o + n) for o, n in zip(offsets, local_shape))
        assert got.shape == tuple(local_shape) and got.device.type == "cpu"
        yield where, got


def assert_parts_of(want: torch.Tensor, parts: Iterator[Part]) -> list[Part]:
    """Every part holds ``want``'s values there, bitwise, and together they cover it."""
    covered = torch.zeros(want.shape, dtype=torch.bool)
    seen = []
    for where, got in parts:
        assert torch.equal(got, want[where]), f"part {where}: {got} where one process has {want[where]}"
        covered[where] = True
        seen.append((where, got))
    assert bool(covered.all())
    return seen


def assert_materialized_parts(
    api: Any, layout: Layout, make: Callable[[torch.Tensor], Any], **options: Any
) -> None:
    """``materialize(module, 'cpu', **options)`` of a meta module (``make(weight)``) gives every
    rank of ``layout`` the values one process gets for its part."""
    plain = make(torch.empty(layout[0], device="meta"))
    torchinit.materialize(plain, "cpu", **options)
    run = functools.partial(torchinit.materialize, device="cpu", **options)
    assert_parts_of(plain.weight.detach(), shards(api, layout, torch.float32, run, meta=True, make=make))


def _initializer(rule: dict[str, Any]) -> Any:
    (spec,) = parse_init_cfg(dict(rule, param="weight"))
    return spec.init


def _accepts(rule: dict[str, Any], shape: tuple[int, ...], dtype: torch.dtype) -> bool:
    try:
        _initializer(rule).check_tensor(torch.empty(shape, dtype=dtype), "weight")
    except ConfigValueError:
        return False
    return True


@SETTINGS
@given(
    layout=layouts(),
    rule=st.sampled_from(RULES),
    dtype=st.sampled_from(DTYPES),
    elements=st.integers(1, 40),
    seed=st.integers(0, 2**40),
)
def test_every_ranks_shard_holds_what_one_process_gives_its_part(
    api: Any, layout: Layout, rule: dict[str, Any], dtype: torch.dtype, elements: int, seed: int
) -> None:
    shape = layout[0]
    assume(_accepts(rule, shape, dtype))  # each initializer takes the shapes and dtypes it takes
    cfg = dict(rule, param="weight")
    with band_size(elements):
        plain = _holder(torch.empty(shape, dtype=dtype))
        torchinit.initialize(plain, cfg, seed=seed)
        parts = assert_parts_of(
            plain.weight.detach(),
            shards(api, layout, dtype, lambda m: torchinit.initialize(m, cfg, seed=seed)),
        )
    if getattr(_initializer(rule), "random", True) and rule["type"] != "Sparse":
        for i, (where, got) in enumerate(parts):  # parts of one random tensor are different numbers
            for other, values in parts[i + 1 :]:
                if other != where and got.shape == values.shape and got.numel() >= 4:
                    assert not torch.equal(got, values), f"{where} and {other} hold the same values"


@SETTINGS
@given(
    layout=layouts(),
    rule=st.sampled_from(RULES),
    elements=st.integers(1, 40),
    seed=st.integers(0, 2**40),
)
def test_materialize_of_a_sharded_meta_tensor_gives_each_rank_its_part(
    api: Any, layout: Layout, rule: dict[str, Any], elements: int, seed: int
) -> None:
    """meta -> shard -> materialize: each rank allocates only its shard and fills it with what
    one process gives that part."""
    shape = layout[0]
    assume(_accepts(rule, shape, torch.float32))
    with band_size(elements):
        assert_materialized_parts(api, layout, _holder, init_cfg=dict(rule, param="weight"), seed=seed)


@SETTINGS
@given(layout=layouts(), dtype=st.sampled_from(DTYPES), kind=st.sampled_from(["safetensors", "pth"]))
def test_pretrained_copies_each_rank_its_part_of_the_checkpoint(
    api: Any, layout: Layout, dtype: torch.dtype, kind: str
) -> None:
    from safetensors.torch import save_file

    shape = layout[0]
    value = torch.randn(shape, generator=torch.Generator().manual_seed(math.prod(shape))).to(dtype)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, f"w.{kind}")
        save_file({"weight": value}, path) if kind == "safetensors" else torch.save({"weight": value}, path)
        rule = dict(type="Pretrained", checkpoint=path)
        assert_parts_of(value, shards(api, layout, dtype, lambda m: torchinit.initialize(m, rule)))


class TwoTensors(torchinit.BaseModule):
    """``weight`` and ``other`` (a copy of its layout); ``init_weights`` runs user code that
    reads ``weight`` after its rule (so the rule's write is performed), defers a write to
    ``other``, and then raises."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__(init_cfg=dict(type="Normal", std=3.0, param="weight"))
        self.weight = nn.Parameter(weight)
        self.other = nn.Parameter(weight.detach().clone())

    def init_weights(self) -> None:  # type: ignore[override]
        super().init_weights()
        self.weight.detach().sum()  # a read: the rule's pending write to weight is performed first
        nn.init.constant_(self.other, 3.0)
        raise RuntimeError("late failure in user code")


def _fails(model: TwoTensors, kind: str, seed: int, folder: str) -> None:
    """A run that must fail on the sharded ``model``: refused before anything (a random rule
    without a seed), late (user code raises after the rules were issued), on a checkpoint
    whose second tensor has the wrong shape (strict), or on a file cut short."""
    if kind == "unseeded":
        rules = [dict(type="Constant", val=2.0, param="weight"), dict(type="Normal", param="other")]
        with pytest.raises(ConfigValueError, match="seed"):
            torchinit.initialize(model, rules)
    elif kind == "user code":
        model.is_init = False
        with pytest.raises(Exception, match="late failure"):
            model.init_weights(seed=seed)  # type: ignore[call-arg]
    elif kind == "checkpoint":
        rule = dict(type="Pretrained", checkpoint=os.path.join(folder, "bad.safetensors"), strict=True)
        with pytest.raises(TorchInitError, match="other"):
            torchinit.initialize(model, rule)
    else:
        cut = os.path.join(folder, "cut.safetensors")
        with pytest.raises(TorchInitError, match=r"cut\.safetensors"):
            torchinit.initialize(model, dict(type="Pretrained", checkpoint=cut))


@SETTINGS
@given(
    layout=layouts(),
    kind=st.sampled_from(["unseeded", "user code", "checkpoint", "cut file"]),
    elements=st.integers(1, 40),
    seed=st.integers(0, 2**40),
)
def test_a_failed_run_leaves_every_ranks_shard_as_it_was(
    api: Any, layout: Layout, kind: str, elements: int, seed: int
) -> None:
    from safetensors.torch import save_file

    shape = layout[0]
    rule = dict(type="Uniform", a=-1.0, b=1.0, param=["weight", "other"])
    with band_size(elements), tempfile.TemporaryDirectory() as folder:
        wrong = (shape[0] + 1, *shape[1:])
        save_file(
            {"weight": torch.ones(shape), "other": torch.ones(wrong)}, os.path.join(folder, "bad.safetensors")
        )
        save_file(
            {"weight": torch.ones(shape), "other": torch.ones(shape)}, os.path.join(folder, "cut.safetensors")
        )
        with open(os.path.join(folder, "cut.safetensors"), "r+b") as f:
            f.truncate(os.path.getsize(f.name) - 4)
        plain = TwoTensors(torch.empty(shape))
        torchinit.initialize(plain, rule, seed=seed)

        def run(model: TwoTensors) -> None:
            torchinit.initialize(model, rule, seed=seed)
            _fails(model, kind, seed, folder)

        assert_parts_of(plain.weight.detach(), shards(api, layout, torch.float32, run, make=TwoTensors))


class ThreeTensors(nn.Module):
    """Three sharded parameters and a load pre-hook (FSDP2 registers some too) that doubles
    ``b`` in place, reading it from the checkpoint it is given."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Parameter(a), nn.Parameter(b), nn.Parameter(c)
        self.register_load_state_dict_pre_hook(self._double_b)

    @staticmethod
    def _double_b(module: nn.Module, state: Any, prefix: str, *args: Any) -> None:
        state[prefix + "b"].mul_(2)


def test_pretrained_through_load_hooks_holds_one_checkpoint_tensor_at_a_time(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rank of a sharded model with load hooks reads, checks and drops each checkpoint
    tensor the hooks did not touch, and reads it again for its slice: never two of them at
    once. What a hook changed in place is what is copied."""
    import weakref

    from safetensors.torch import save_file

    from torchinit.checkpoint._safetensors import SafetensorsStateDict

    shapes = {"a": (6, 4), "b": (5, 3), "c": (7, 2)}
    values = {
        k: torch.randn(s, generator=torch.Generator().manual_seed(len(k) + s[0])) for k, s in shapes.items()
    }
    read, alive_before = [], []
    original = SafetensorsStateDict.__getitem__

    def tracked(self: Any, key: str) -> torch.Tensor:
        alive_before.append(sum(ref() is not None for ref in read))
        tensor = original(self, key)
        read.append(weakref.ref(tensor))
        return tensor

    monkeypatch.setattr(SafetensorsStateDict, "__getitem__", tracked)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "three.safetensors")
        save_file(values, path)
        for rank in range(2):
            with as_rank(rank, (2,)) as mesh:
                parts, rows = {}, {}
                for k, shape in shapes.items():
                    chunk = -(-shape[0] // 2)  # torch.chunk's split of dimension 0
                    rows[k] = slice(min(rank * chunk, shape[0]), min((rank + 1) * chunk, shape[0]))
                    local = torch.full((rows[k].stop - rows[k].start, shape[1]), float("nan"))
                    parts[k] = api.DTensor.from_local(
                        local,
                        mesh,
                        [api.Shard(0)],
                        run_check=False,
                        shape=torch.Size(shape),
                        stride=(shape[1], 1),
                    )
                model = ThreeTensors(parts["a"], parts["b"], parts["c"])
                read.clear()
                alive_before.clear()
                torchinit.initialize(model, dict(type="Pretrained", checkpoint=path, strict=True))
                assert max(alive_before) <= 1, f"checkpoint tensors alive at each read: {alive_before}"
                for k, want in values.items():
                    got = getattr(model, k).to_local().detach()
                    assert torch.equal(got, (2 * want if k == "b" else want)[rows[k]]), k


class ResetOnly(nn.Module):
    """A layer whose only initialization is its own random ``reset_parameters()`` (as
    ``nn.Linear``'s: Kaiming-uniform with a=√5), covered by no rule."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))


@SETTINGS
@given(layout=layouts(), seed=st.integers(0, 2**40))
def test_materialize_runs_a_random_reset_parameters_whole_and_keeps_each_rank_its_part(
    api: Any, layout: Layout, seed: int
) -> None:
    assume(len(layout[0]) >= 2)  # a fan to scale by
    assert_materialized_parts(api, layout, ResetOnly, seed=seed)

"""The checks run on each rank by tests/test_distributed.py (see tests/_distributed.py).

Every check compares a sharded result with the one-process result computed in the same
rank on plain tensors (the same code path as a separate process: seeded values depend on
neither the process nor the thread count), with bands of 64 elements so that small tensors
cross band boundaries and shard boundaries cut bands.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

import torchinit
from torchinit import WEIGHT_INITIALIZERS, BaseInit, ConfigValueError, FillInit, InitStateError, initialize, materialize
from torchinit import functional as F
from torchinit.distributed.bands import band_size

from _distributed import GPT, GPT_RULES, Checks, differences, full_state, shard_gpt

SMALL_BANDS = 64
# Arguments an initializer needs in a rule; shapes tried (each initializer gets those it accepts).
ARGS: dict[str, dict[str, Any]] = {
    "Constant": dict(val=0.5),
    "Sparse": dict(sparsity=0.3),
    "EmbeddingNormal": dict(std=0.02, padding_idx=3),
    "DepthScaledNormal": dict(depth=4),
    "Normal": dict(std=0.02),
    "TruncNormal": dict(std=1.0, a=-1.5, b=1.5),
    "FromModule": dict(fn=lambda module: torch.ones(())),
}
SHAPES = [(50, 30), (8, 6, 3, 3), (1000,), (3, 5)]


@dataclass(frozen=True, kw_only=True)
class OwnScaled(FillInit):
    """An initializer of the user's own (not elementwise as far as torchinit knows)."""

    factor: float = 0.1

    def fill(self, tensor: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        return F.normal_(tensor, 0.0, self.factor, generator=generator)


def built(rule: dict[str, Any]) -> Any:
    """The initializer of ``rule`` as the planner hands it to a tensor named ``weight``."""
    init = WEIGHT_INITIALIZERS.build({k: v for k, v in rule.items() if k != "param"})
    if hasattr(init, "specialize"):  # resolved per tensor (FromModule, EmbeddingNormal, DepthScaledNormal)
        init = init.specialize("weight", _holder(torch.zeros(1)))
    return init


def initializer_cases() -> list[tuple[str, dict[str, Any], tuple[int, ...]]]:
    """(name, rule, shape) for every registered initializer and every shape it accepts, and one
    initializer of the user's own."""
    cases = [("OwnScaled", dict(type=OwnScaled, param="weight"), (50, 30))]
    for name in WEIGHT_INITIALIZERS.names():
        found = WEIGHT_INITIALIZERS.get(name)
        if name == "Pretrained" or not found.__module__.startswith("torchinit.") or issubclass(found, BaseInit):
            continue  # other tests register initializers of their own; module-level rules fill no tensor
        rule = dict(type=name, param="weight", **ARGS.get(name, {}))
        init = built(rule)
        for shape in SHAPES:
            try:
                init.check_tensor(torch.empty(shape), "probe")
            except ConfigValueError:
                continue
            cases.append((name, rule, shape))
    return cases


def _holder(weight: torch.Tensor) -> nn.Module:
    module = nn.Module()
    module.weight = nn.Parameter(weight)
    return module


def check_initializers(mesh: Any, layouts: list[tuple[Any, ...]]) -> list[str]:
    """Every registered initializer x shape x layout: the gathered tensor equals one process."""
    from torch.distributed.tensor import distribute_tensor

    bad = []
    for name, rule, shape in initializer_cases():
        want = _holder(torch.zeros(shape))
        initialize(want, rule, seed=0)
        for placements in layouts:
            if any(getattr(p, "dim", 0) >= len(shape) for p in placements):
                continue
            got = _holder(distribute_tensor(torch.zeros(shape), mesh, placements, src_data_rank=None))
            initialize(got, rule, seed=0)
            if not torch.equal(got.weight.full_tensor(), want.weight):
                bad.append(f"{name} on {shape} with {placements}")
    return bad


def _digests(model: nn.Module) -> dict[str, str]:
    """A digest of each random weight's local shard (LayerNorm weights and biases are constants)."""
    return {name: hashlib.blake2b(p.to_local().detach().contiguous().view(torch.uint8).numpy().tobytes(),
                                  digest_size=8).hexdigest()
            for name, p in model.named_parameters()
            if name.endswith("weight") and ".ln." not in name and p.to_local().numel() > 1}


def check_fsdp(mesh: Any, world: int) -> Checks:
    """FSDP2 GPT: materialize on the sharded meta model equals one process; FSDP still works."""
    from torch.distributed.tensor import DTensor

    with torch.device("meta"):
        ref = GPT(GPT_RULES)
    materialize(ref, "cpu", seed=0)
    want = full_state(ref)
    out: Checks = {}
    with torch.device("meta"):
        model = shard_gpt(GPT(GPT_RULES), mesh)
    placements = {n: p.placements for n, p in model.named_parameters()}
    torch.manual_seed(1)
    report = materialize(model, "cpu", seed=0)
    out["fsdp_materialize"] = differences(full_state(model), want, "materialize")
    out["fsdp_placements"] = [f"{n} is {type(p).__name__} {getattr(p, 'placements', None)}"
                              for n, p in model.named_parameters()
                              if not isinstance(p, DTensor) or p.placements != placements[n]]
    out["record"] = [] if report["pos.weight"].source == "reset" else ["pos.weight not from reset_parameters"]
    everyone: list[Any] = [None] * world
    dist.all_gather_object(everyone, _digests(model))
    out["shards_differ"] = [f"{n}: ranks hold equal shards" for n in everyone[0]
                            if len({d.get(n) for d in everyone}) < world]
    health = torchinit.health_check(model, report)
    out["health_sharded"] = [str(f) for f in health.findings]
    with torch.device("meta"):
        other = shard_gpt(GPT(GPT_RULES), mesh)
    torch.manual_seed(2)
    materialize(other, "cpu", seed=0)
    out["global_seed_ignored"] = differences(full_state(other), want, "after another torch.manual_seed")
    before = full_state(model)
    loss = model(torch.randint(0, 97, (2, 8))).square().mean()
    loss.backward()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    unchanged = differences(full_state(model), before, "after a forward/backward")
    optimizer.step()
    moved = [n for n, t in full_state(model).items() if not torch.equal(t, before[n])]
    out["fsdp_trains"] = unchanged + ([] if moved else ["the optimizer step changed nothing"])
    # repeated shards: every rank draws its shard from the same global seed
    torch.manual_seed(0)
    with torch.no_grad():
        model.blocks[0].fc.weight.to_local().normal_()
    findings = torchinit.health_check(model, report).findings
    out["health_repeated"] = [] if any(f.kind == "repeated" and f.name == "blocks.0.fc.weight" for f in findings) \
        else [f"no 'repeated' finding: {[str(f) for f in findings]}"]
    return out


def check_init_weights(mesh: Any) -> list[str]:
    """init_weights(seed=0) after to_empty on an FSDP2 model equals one process (rule tensors)."""
    ref = GPT(GPT_RULES)
    ref.init_weights(seed=0)
    with torch.device("meta"):
        model = shard_gpt(GPT(GPT_RULES), mesh)
    model.to_empty(device="cpu")
    model.init_weights(seed=0)
    want = {k: v for k, v in full_state(ref).items() if not k.startswith("pos.")}
    return differences(full_state(model), want, "init_weights")


def check_lsuv(mesh: Any) -> list[str]:
    """lsuv_init on an FSDP2 model: every rank the same batch and generator; equals one process."""
    batch = torch.randint(0, 97, (4, 8), generator=torch.Generator().manual_seed(2))
    with torch.device("meta"):
        ref = GPT(GPT_RULES)
    materialize(ref, "cpu", seed=0)  # pos too (its seeded reset), as the sharded model below
    torchinit.lsuv_init(ref, batch, generator=torch.Generator().manual_seed(1))
    with torch.device("meta"):
        model = shard_gpt(GPT(GPT_RULES), mesh)
    materialize(model, "cpu", seed=0)
    bad = _raises(ConfigValueError, "seeded the same on every rank", lambda: torchinit.lsuv_init(model, batch))
    torchinit.lsuv_init(model, batch, generator=torch.Generator().manual_seed(1))
    got, want = full_state(model), full_state(ref)
    return bad + [f"lsuv: {name} differs from one process" for name in want
                  if not torch.allclose(got[name], want[name], rtol=1e-4, atol=1e-6)]


def check_tensor_parallel(mesh: Any) -> list[str]:
    """Colwise/Rowwise TP on meta, to_empty, initialize(seed=0): equal to one process; forward runs."""
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    from _distributed import Block

    rules = [dict(type="Kaiming", layer="Linear", bias=0.1), dict(type="Constant", layer="LayerNorm", val=1)]
    ref = Block(32)
    initialize(ref, rules, seed=0)
    with torch.device("meta"):
        block = parallelize_module(Block(32), mesh, {"fc": ColwiseParallel(), "out": RowwiseParallel()})
    block.to_empty(device="cpu")
    initialize(block, rules, seed=0)
    bad = differences(full_state(block), full_state(ref), "tensor parallel")
    block(torch.randn(2, 4, 32)).sum().backward()
    return bad


def check_pretrained(mesh: Any, folder: str, rank: int) -> list[str]:
    """Pretrained on a sharded meta model: each rank copies its slice; the whole equals the file."""
    from safetensors.torch import save_file

    source = GPT()
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    paths = [os.path.join(folder, "gpt.safetensors"), os.path.join(folder, "gpt.pth")]
    if rank == 0:
        save_file(state, paths[0])
        torch.save(state, paths[1])
    dist.barrier()
    bad = []
    for path in paths:
        with torch.device("meta"):
            model = shard_gpt(GPT(dict(type="Pretrained", checkpoint=path)), mesh)
        if path.endswith(".safetensors"):  # a rank holds one checkpoint tensor at a time: kept lazily
            from torchinit._load import LazyValue
            from torchinit.pretrained import plan_pretrained

            values = plan_pretrained(torchinit.Pretrained(checkpoint=path), model).tensors.values()
            if not all(isinstance(v, LazyValue) for v in values):
                bad.append("a sharded model's checkpoint tensors were read and kept when the plan was made")
        materialize(model, "cpu", seed=0)
        bad += differences(full_state(model), state, f"Pretrained from {os.path.basename(path)}")
        model.is_init = False  # init_weights on the allocated shards: each rank copies its slice again
        with torch.no_grad():
            for p in model.parameters():
                p.zero_()
        model.init_weights(seed=0)
        bad += differences(full_state(model), state, f"init_weights, Pretrained from {os.path.basename(path)}")
    return bad


def _raises(kind: type[BaseException], words: str, fn: Callable[[], Any]) -> list[str]:
    try:
        fn()
    except kind as exc:
        return [] if words in str(exc) else [f"{kind.__name__} without {words!r}: {exc}"]
    except Exception as exc:  # the wrong error
        return [f"expected {kind.__name__}, got {type(exc).__name__}: {exc}"]
    return [f"expected {kind.__name__}, nothing was raised"]


class RandomUserInit(GPT):
    def init_weights(self) -> None:
        nn.init.normal_(self.blocks[0].fc.weight)


class ConstantUserInit(GPT):
    def init_weights(self) -> None:
        super().init_weights()
        nn.init.constant_(self.blocks[0].fc.weight, 0.5)


def check_errors(mesh: Any) -> list[str]:
    """No silent fallback: each refused case raises, names the tensor, and changes nothing."""
    bad = []
    with torch.device("meta"):
        model = shard_gpt(GPT(GPT_RULES), mesh)
    bad += _raises(InitStateError, "materialize", lambda: model.init_weights(seed=0))
    bad += [] if all(p.is_meta for p in model.parameters()) else ["init_weights on meta changed tensors"]
    bad += _raises(ConfigValueError, "pos.weight", lambda: materialize(model, "cpu"))
    bad += [] if all(p.is_meta for p in model.parameters()) else ["materialize(seed=None) left the meta device"]
    materialize(model, "cpu", seed=0)
    before = full_state(model)
    bad += _raises(ConfigValueError, "seed", lambda: initialize(model, dict(type="Normal", layer="Linear")))
    from torch.distributed.tensor import DTensor, Partial

    partial = _holder(DTensor.from_local(torch.zeros(4, 4), mesh, [Partial()]))
    bad += _raises(InitStateError, "Partial", lambda: initialize(partial, dict(type="Normal", param="weight"), seed=0))
    with torch.device("meta"):
        user = shard_gpt(RandomUserInit(), mesh)
    user.to_empty(device="cpu")
    bad += _raises(InitStateError, "blocks.0.fc.weight", user.init_weights)
    bad += differences(full_state(model), before, "after a refused run")
    with torch.device("meta"):
        constant = shard_gpt(ConstantUserInit(), mesh)
    constant.to_empty(device="cpu")
    constant.init_weights()
    weight = constant.blocks[0].fc.weight.full_tensor()
    return bad + ([] if bool((weight == 0.5).all()) else ["a constant fill in user code did not reach every shard"])


def check_kaiming_std(mesh: Any) -> list[str]:
    """Kaiming(fan_out, relu) on a Shard(0) 4096x1024 weight: std from the global fan_out 4096."""
    from torch.distributed.tensor import Shard, distribute_tensor

    holder = _holder(distribute_tensor(torch.zeros(4096, 1024), mesh, [Shard(0)], src_data_rank=None))
    initialize(holder, dict(type="Kaiming", param="weight"), seed=0)
    local = holder.weight.to_local().detach().double()
    moments = torch.stack([local.sum(), local.square().sum()])
    dist.all_reduce(moments)  # the whole tensor's std, without gathering it
    n = 4096 * 1024
    std = float((moments[1] / n - (moments[0] / n) ** 2) * n / (n - 1)) ** 0.5
    want = (2 / 4096) ** 0.5
    return [] if abs(std / want - 1) < 0.02 else [f"std {std:.5f}, want {want:.5f}"]


def two_ranks(rank: int, world: int, folder: str) -> Checks:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate, Shard

    mesh = init_device_mesh("cpu", (world,))
    checks: Checks = {}
    with band_size(SMALL_BANDS):
        checks["initializers"] = check_initializers(mesh, [(Shard(0),), (Shard(1),), (Shard(2),), (Replicate(),)])
        checks.update(check_fsdp(mesh, world))
        checks["init_weights"] = check_init_weights(mesh)
        checks["tensor_parallel"] = check_tensor_parallel(mesh)
        checks["pretrained"] = check_pretrained(mesh, folder, rank)
        checks["lsuv"] = check_lsuv(mesh)
        checks["errors"] = check_errors(mesh)
    return checks


def four_ranks(rank: int, world: int, folder: str) -> Checks:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate, Shard
    from torch.distributed.tensor.placement_types import _StridedShard

    flat = init_device_mesh("cpu", (world,))
    square = init_device_mesh("cpu", (2, 2))
    checks: Checks = {"kaiming_std": check_kaiming_std(flat)}
    with band_size(SMALL_BANDS):
        checks["initializers"] = check_initializers(flat, [(Shard(0),), (Shard(1),)])
        checks["initializers_2d_mesh"] = check_initializers(square, [
            (Shard(0), Shard(1)), (Shard(0), Shard(0)), (Replicate(), Shard(1)), (Shard(1), Shard(0)),
            (_StridedShard(0, split_factor=2), Shard(0))])
        checks.update(check_fsdp(flat, world))
    return checks

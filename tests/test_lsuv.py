"""lsuv_init: every reached layer ends with unit output variance on the batch, in forward order,
from an orthonormal start; failures change nothing."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
from _helpers import gen, one_thread  # noqa: F401  (one_thread: autouse fixture)
from conftest import assert_unchanged, state_of
from torch import Tensor, nn

import torchinit
from torchinit import ConfigTypeError, ConfigValueError, InitWarning, lsuv_init

TOL = 0.1


def mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(32, 128), nn.ReLU(), nn.Linear(128, 128), nn.Tanh(), nn.Linear(128, 10))


def cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(32 * 7 * 7, 10),
    )


def output_stds(model: nn.Module, batch: Tensor, classes: tuple[type[nn.Module], ...]) -> dict[str, float]:
    """Each layer's output std on ``batch``, measured independently of lsuv_init (eval mode)."""
    stds: dict[str, float] = {}

    def record(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: object, out: Tensor) -> None:
            stds.setdefault(name, float(out.double().std(unbiased=False)))

        return hook

    handles = [m.register_forward_hook(record(name)) for name, m in model.named_modules() if isinstance(m, classes)]
    model.eval()
    with torch.no_grad():
        model(batch)
    for h in handles:
        h.remove()
    return stds


@pytest.mark.parametrize(
    ("build", "shape"), [pytest.param(mlp, (256, 32), id="mlp"), pytest.param(cnn, (64, 3, 16, 16), id="cnn")]
)
def test_every_layer_output_has_unit_variance_within_tol(build: type[nn.Module], shape: tuple[int, ...]) -> None:
    model = build()
    for p in model.parameters():  # a start far from unit variance
        p.data.mul_(25)
    batch = torch.randn(shape, generator=gen(1))
    stds = lsuv_init(model, batch, generator=gen())
    measured = output_stds(model, batch, (nn.Linear, nn.Conv2d))
    assert list(stds) == list(measured)
    for name, std in measured.items():
        assert abs(std**2 - 1) < TOL, f"{name}: output variance {std**2:.4f}"
        assert std == pytest.approx(stds[name], rel=1e-9)


def test_weights_are_orthonormal_up_to_one_scale_each_and_biases_are_zero() -> None:
    model = mlp()
    lsuv_init(model, torch.randn(256, 32, generator=gen(1)), generator=gen())
    for layer in (model[0], model[2], model[4]):
        w = layer.weight.detach().double()
        gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
        scale = float(gram.diagonal().mean())
        assert torch.allclose(gram, scale * torch.eye(len(gram), dtype=torch.float64), atol=1e-5 * scale)
        assert not layer.bias.any()


def test_layers_are_rescaled_in_the_order_the_forward_pass_reaches_them() -> None:
    class Reversed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.second = nn.Linear(64, 64)
            self.first = nn.Linear(16, 64)

        def forward(self, x: Tensor) -> Tensor:
            return self.second(torch.relu(self.first(x)))

    model = Reversed()
    batch = torch.randn(256, 16, generator=gen(1))
    assert list(lsuv_init(model, batch, generator=gen())) == ["first", "second"]
    assert abs(output_stds(model, batch, (nn.Linear,))["second"] ** 2 - 1) < TOL


def test_the_same_generator_gives_the_same_weights() -> None:
    a, b = mlp(), mlp()
    batch = torch.randn(128, 32, generator=gen(1))
    lsuv_init(a, batch, generator=gen(5))
    lsuv_init(b, batch, generator=gen(5))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_training_flags_and_batchnorm_statistics_are_left_as_they_were() -> None:
    model = cnn().train()
    before = copy.deepcopy(model[1].state_dict())
    lsuv_init(model, torch.randn(32, 3, 16, 16, generator=gen(1)), generator=gen())
    assert all(m.training for m in model.modules())
    assert all(torch.equal(v, before[k]) for k, v in model[1].state_dict().items())


def test_only_the_given_layer_classes_change() -> None:
    model = cnn()
    linear = model[6].weight.detach().clone()
    stds = lsuv_init(model, torch.randn(32, 3, 16, 16, generator=gen(1)), layers=nn.Conv2d, generator=gen())
    assert list(stds) == ["0", "3"]
    assert torch.equal(model[6].weight, linear)


def test_a_layer_the_forward_pass_never_runs_warns_and_is_left_alone() -> None:
    class Unused(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Linear(8, 8)
            self.spare = nn.Linear(8, 8)

        def forward(self, x: Tensor) -> Tensor:
            return self.used(x)

    model = Unused()
    spare = model.spare.weight.detach().clone()
    with pytest.warns(InitWarning, match="never ran spare"):
        stds = lsuv_init(model, torch.randn(64, 8, generator=gen(1)))
    assert list(stds) == ["used"] and torch.equal(model.spare.weight, spare)


def test_a_layer_whose_output_cannot_reach_unit_variance_warns() -> None:
    model = nn.Sequential(nn.Linear(8, 8))
    with pytest.warns(InitWarning, match="variance 0.0 on this batch"):
        lsuv_init(model, torch.zeros(16, 8))


def test_a_batch_the_model_rejects_leaves_every_weight_unchanged() -> None:
    model = mlp().train()
    before = state_of(model)
    with pytest.raises(RuntimeError):
        lsuv_init(model, torch.randn(8, 31))
    assert_unchanged(model, before)
    assert all(m.training for m in model.modules())


def test_a_failure_midway_restores_the_layers_already_rescaled() -> None:
    class FailsLate(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(8, 8)
            self.b = nn.Linear(8, 8)
            self.calls = 0

        def forward(self, x: Tensor) -> Tensor:
            self.calls += 1
            if self.calls > 3:
                raise RuntimeError("boom")
            return self.b(self.a(x))

    model = FailsLate()
    before = state_of(model)
    with pytest.raises(RuntimeError, match="boom"):
        lsuv_init(model, torch.randn(64, 8, generator=gen(1)) * 5)
    assert_unchanged(model, before)


def test_tuple_and_mapping_batches_are_passed_as_arguments() -> None:
    class TwoInputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x: Tensor, y: Tensor) -> Tensor:
            return self.fc(x + y)

    x, y = torch.randn(64, 8, generator=gen(1)), torch.randn(64, 8, generator=gen(2))
    assert abs(lsuv_init(TwoInputs(), (x, y))["fc"] ** 2 - 1) < TOL
    assert abs(lsuv_init(TwoInputs(), dict(x=x, y=y))["fc"] ** 2 - 1) < TOL


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(tol=0), ConfigValueError, r"tol .* in \(0, 1\)"),
        (dict(tol="0.1"), ConfigTypeError, "tol must be a number"),
        (dict(max_iter=0), ConfigValueError, "max_iter must be >= 1"),
        (dict(layers="Linear"), ConfigTypeError, "layers must be an nn.Module class"),
        (dict(layers=(nn.LSTM,)), ConfigValueError, "has no LSTM with a weight"),
    ],
)
def test_bad_arguments_raise_before_anything_changes(kwargs: dict, error: type[Exception], match: str) -> None:
    model = mlp()
    before = state_of(model)
    with pytest.raises(error, match=match):
        lsuv_init(model, torch.randn(8, 32), **kwargs)
    assert_unchanged(model, before)


def test_lsuv_init_is_exported() -> None:
    assert torchinit.lsuv_init is lsuv_init and "lsuv_init" in torchinit.__all__

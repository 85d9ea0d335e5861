"""Sharding-invariant initialization on 2 and 4 gloo ranks (torch.distributed, CPU).

Each world size is launched once (a module-scoped fixture); every test reads one named
check of that run (see tests/_distributed_cases.py for what each check does).
"""

from __future__ import annotations

import pytest

from _distributed import problems, run_ranks

dist = pytest.importorskip("torch.distributed")
pytest.importorskip("torch.distributed.tensor")
if not dist.is_available() or not dist.is_gloo_available():
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)


@pytest.fixture(scope="module")
def two() -> list[dict[str, list[str]]]:
    from _distributed_cases import two_ranks

    return run_ranks(two_ranks, 2)


@pytest.fixture(scope="module")
def four() -> list[dict[str, list[str]]]:
    from _distributed_cases import four_ranks

    return run_ranks(four_ranks, 4)


def test_every_initializer_on_every_placement_equals_one_process_on_two_ranks(two: list) -> None:
    assert problems(two, "initializers") == []


def test_every_initializer_on_shard_placements_equals_one_process_on_four_ranks(four: list) -> None:
    assert problems(four, "initializers") == []


def test_two_dimensional_meshes_and_uneven_and_empty_shards_equal_one_process(four: list) -> None:
    assert problems(four, "initializers_2d_mesh") == []


@pytest.mark.parametrize("world", ["two", "four"])
def test_materialize_of_an_fsdp2_model_equals_one_process(world: str, request: pytest.FixtureRequest) -> None:
    assert problems(request.getfixturevalue(world), "fsdp_materialize") == []


@pytest.mark.parametrize("world", ["two", "four"])
def test_parameters_stay_dtensors_with_their_placements(world: str, request: pytest.FixtureRequest) -> None:
    assert problems(request.getfixturevalue(world), "fsdp_placements") == []


@pytest.mark.parametrize("world", ["two", "four"])
def test_the_seed_is_the_only_source_torch_manual_seed_changes_nothing(world: str,
                                                                      request: pytest.FixtureRequest) -> None:
    assert problems(request.getfixturevalue(world), "global_seed_ignored") == []


@pytest.mark.parametrize("world", ["two", "four"])
def test_shards_of_random_tensors_differ_between_ranks(world: str, request: pytest.FixtureRequest) -> None:
    assert problems(request.getfixturevalue(world), "shards_differ") == []


def test_forward_backward_and_an_optimizer_step_run_after_materialize(two: list) -> None:
    assert problems(two, "fsdp_trains") == []


def test_a_random_reset_parameters_takes_the_whole_tensor_path(two: list) -> None:
    assert problems(two, "record") == []


def test_init_weights_after_to_empty_equals_one_process(two: list) -> None:
    assert problems(two, "init_weights") == []


def test_tensor_parallel_colwise_and_rowwise_equal_one_process(two: list) -> None:
    assert problems(two, "tensor_parallel") == []


def test_lsuv_init_on_a_sharded_model_equals_one_process(two: list) -> None:
    assert all(rank["lsuv"] == [] for rank in two), [rank["lsuv"] for rank in two]


def test_pretrained_on_a_sharded_model_loads_each_ranks_slice(two: list) -> None:
    assert problems(two, "pretrained") == []


def test_refused_cases_raise_name_the_tensor_and_change_nothing(two: list) -> None:
    assert problems(two, "errors") == []


def test_kaiming_std_comes_from_the_global_fan_on_a_sharded_weight(four: list) -> None:
    assert problems(four, "kaiming_std") == []


def test_the_health_check_of_a_well_initialized_sharded_model_finds_nothing(two: list) -> None:
    assert problems(two, "health_sharded") == []


def test_the_health_check_flags_shards_repeated_across_ranks(two: list) -> None:
    assert problems(two, "health_repeated") == []

"""torchvision:// and open-mmlab:// names: shipped tables, the user's table, and what they point to.

No test downloads from the real model zoo: the user's table in $TORCHINIT_HOME points names
at a server on 127.0.0.1 or at local files.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest
import torch
from _checkpoint_helpers import Classifier, Payload, assert_same_weights, trained
from _checkpoint_server import CheckpointServer, Route
from conftest import assert_unchanged, state_of

from torchinit import CheckpointNotFoundError, CheckpointUnsafeError, ModelZooError, load_checkpoint
from torchinit.checkpoint._download import hash_prefix
from torchinit.checkpoint._model_zoo import load_table, resolve
from torchinit.errors import CheckpointReadError


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("TORCHINIT_HOME", str(path))
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return path


def write_table(home: Path, name: str, table: dict[str, str]) -> None:
    (home / name).write_text(json.dumps(table))


def saved(path: Path, obj) -> Path:
    torch.save(obj, path)
    return path


# --------------------------------------------------------------------------- shipped tables
@pytest.mark.parametrize("scheme", ["torchvision://", "open-mmlab://"])
def test_every_shipped_entry_is_an_https_url(scheme):
    table = load_table(scheme)
    assert len(table) > 30
    for name, url in table.items():
        assert re.fullmatch(r"https://download\.(pytorch\.org|openmmlab\.com)/\S+\.pth", url), name


def test_every_shipped_torchvision_url_carries_its_sha256_prefix():
    for name, url in load_table("torchvision://").items():
        assert hash_prefix(url) is not None, name


def test_well_known_names_resolve_to_their_official_urls():
    assert resolve("torchvision://resnet50") == "https://download.pytorch.org/models/resnet50-0676ba61.pth"
    assert resolve("torchvision://vgg16") == "https://download.pytorch.org/models/vgg16-397923af.pth"
    base = "https://download.openmmlab.com/pretrain/third_party/"
    assert resolve("open-mmlab://resnet50_v1c") == base + "resnet50_v1c-2cccc1ad.pth"
    assert resolve("openmmlab://resnext101_32x4d") == base + "resnext101_32x4d-a5af3160.pth"
    assert resolve("open-mmlab://vgg16_caffe") == base + "vgg16_caffe-292e1171.pth"


def test_a_name_in_no_table_is_an_error_listing_close_names():
    model = Classifier()
    before = state_of(model)
    with pytest.raises(ModelZooError) as info:
        load_checkpoint(model, "open-mmlab://resnet50_v1d")
    assert isinstance(info.value, KeyError)
    assert "resnet50_v1c" in str(info.value) and "open-mmlab.json" in str(info.value)
    with pytest.raises(ModelZooError, match="resnet50"):
        Classifier(init_cfg=dict(type="Pretrained", checkpoint="torchvision://resnet05")).init_weights()
    assert_unchanged(model, before)


# --------------------------------------------------------------------------- the user's table
def test_the_users_entry_wins_over_the_shipped_one(home, tmp_path):
    source = trained()
    path = saved(tmp_path / "local.pth", source.state_dict())
    write_table(home, "open-mmlab.json", {"resnet50_v1c": str(path)})
    assert resolve("open-mmlab://resnet50_v1c") == str(path)
    assert resolve("open-mmlab://vgg16_caffe").startswith("https://")  # the rest stays
    model = Classifier(init_cfg=dict(type="Pretrained", checkpoint="open-mmlab://resnet50_v1c"))
    model.init_weights()
    assert_same_weights(model, source)


def test_open_mmlab_json_is_read_too_and_open_mmlab_dash_json_wins(home):
    write_table(home, "open_mmlab.json", {"mine": "a.pth", "only_underscore": "b.pth"})
    write_table(home, "open-mmlab.json", {"mine": "c.pth"})
    assert resolve("openmmlab://mine") == "c.pth"
    assert resolve("open-mmlab://only_underscore") == "b.pth"


def test_a_torchvision_name_loads_through_the_download_cache(home):
    source = trained()
    buffer = io.BytesIO()
    torch.save(source.state_dict(), buffer)
    with CheckpointServer() as server:
        server.routes["/resnet50.pth"] = Route(buffer.getvalue())
        write_table(home, "torchvision.json", {"resnet50": server.url("/resnet50.pth")})
        for _ in range(2):
            model = Classifier()
            load_checkpoint(model, "torchvision://resnet50")
            assert_same_weights(model, source)
        assert server.hits == {"/resnet50.pth": 1}


def test_a_relative_path_in_the_table_is_relative_to_the_home_directory(home):
    source = trained()
    (home / "weights").mkdir()
    saved(home / "weights" / "mine.pth", {"state_dict": source.state_dict()})
    write_table(home, "open-mmlab.json", {"mine": "weights/mine.pth", "missing": "weights/none.pth"})
    model = Classifier()
    load_checkpoint(model, "open-mmlab://mine")
    assert_same_weights(model, source)
    with pytest.raises(CheckpointNotFoundError, match="none.pth"):
        load_checkpoint(model, "open-mmlab://missing")


def test_a_file_url_in_the_table_is_read(home, tmp_path):
    source = trained()
    path = saved(tmp_path / "w.pth", source.state_dict())
    write_table(home, "torchvision.json", {"mine": path.as_uri()})
    model = Classifier()
    load_checkpoint(model, "torchvision://mine")
    assert_same_weights(model, source)


def test_a_zoo_checkpoint_that_would_run_code_is_refused(home, tmp_path):
    marker = tmp_path / "pwned"
    path = saved(tmp_path / "evil.pth", {"x": Payload(marker)})
    write_table(home, "open-mmlab.json", {"evil": str(path)})
    model = Classifier()
    before = state_of(model)
    with pytest.raises(CheckpointUnsafeError):
        load_checkpoint(model, "open-mmlab://evil")
    with pytest.raises(CheckpointUnsafeError):
        Classifier(init_cfg=dict(type="Pretrained", checkpoint="open-mmlab://evil")).init_weights()
    assert not marker.exists()
    assert_unchanged(model, before)


@pytest.mark.parametrize(
    "text",
    [b"{not json", b'["a", "b"]', b'{"a": 1}', b"[" * 100_000, b'{"a": "\xff\xfe"}'],
    ids=["bad-json", "a-list", "not-a-str", "nested-too-deep", "not-utf-8"],
)
def test_a_malformed_user_table_is_a_model_zoo_error(home, text):
    (home / "open-mmlab.json").write_bytes(text)
    with pytest.raises(ModelZooError, match="open-mmlab.json"):
        resolve("open-mmlab://resnet50_v1c")


def test_a_home_too_long_for_any_file_has_no_user_table(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCHINIT_HOME", str(tmp_path / ("h" * 300)))
    assert resolve("torchvision://resnet50").startswith("https://download.pytorch.org/")


def test_a_user_table_that_is_a_directory_is_ignored(home):
    (home / "open-mmlab.json").mkdir()
    assert resolve("open-mmlab://resnet50_v1c").startswith("https://")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_a_user_table_that_may_not_be_read_is_a_read_error(home):
    write_table(home, "open-mmlab.json", {"mine": "a.pth"})
    (home / "open-mmlab.json").chmod(0)
    with pytest.raises(CheckpointReadError, match="permission denied"):
        resolve("open-mmlab://mine")

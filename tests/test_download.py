"""http(s) checkpoints: downloaded once into $TORCHINIT_HOME, complete and verified, or not at all.

Every test serves files from a server on 127.0.0.1 that it starts and stops; nothing
reaches beyond the machine. Each fault checks the exception, the builtin it also is, that
the model is unchanged and that the cache holds no file.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import time
from pathlib import Path

import pytest
import torch
from _checkpoint_helpers import Classifier, Payload, assert_same_weights, files_under, trained
from _checkpoint_server import CheckpointServer, Route
from conftest import assert_unchanged, state_of

from torchinit import (
    CheckpointChecksumError,
    CheckpointCorruptError,
    CheckpointDownloadError,
    CheckpointUnsafeError,
    ConfigTypeError,
    ConfigValueError,
    get_torchinit_home,
    load_checkpoint,
)
from torchinit.checkpoint import _download, _sources
from torchinit.checkpoint._download import cache_path, cached_download, hash_prefix

_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("TORCHINIT_HOME", str(home))
    monkeypatch.delenv("TORCHINIT_DOWNLOAD_TIMEOUT", raising=False)
    for name in _PROXY_VARS:  # 127.0.0.1 must be reached directly, never through a proxy
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def server():
    with CheckpointServer() as s:
        yield s


def checkpoint_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def hashed_name(data: bytes, stem: str = "model") -> str:
    return f"{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth"


def cached_files(home: Path) -> list[Path]:
    """Every file under the home directory, hidden partial downloads included."""
    return sorted(p for p in home.rglob("*") if p.is_file()) if home.exists() else []


# --------------------------------------------------------------------------- downloads
def test_a_url_is_downloaded_once_and_then_read_from_the_cache(server, _home):
    source = trained()
    data = checkpoint_bytes({"state_dict": source.state_dict()})
    server.routes["/model.pth"] = Route(data)
    for _ in range(2):
        model = Classifier()
        load_checkpoint(model, server.url("/model.pth"))
        assert_same_weights(model, source)
    assert server.hits == {"/model.pth": 1}
    assert cached_files(_home) == [cache_path(server.url("/model.pth"))]
    assert cache_path(server.url("/model.pth")).parent == _home / "checkpoints"


def test_a_pretrained_init_cfg_can_name_a_url(server):
    source = trained()
    server.routes["/model.pth"] = Route(checkpoint_bytes(source.state_dict()))
    model = Classifier(init_cfg=dict(type="Pretrained", checkpoint=server.url("/model.pth")))
    model.init_weights()
    assert_same_weights(model, source)


def test_the_cache_is_keyed_by_the_whole_url(server, _home):
    first, second = trained(seed=1), trained(seed=2)
    server.routes["/a/model.pth"] = Route(checkpoint_bytes(first.state_dict()))
    server.routes["/b/model.pth"] = Route(checkpoint_bytes(second.state_dict()))
    for path, source in (("/a/model.pth", first), ("/b/model.pth", second), ("/a/model.pth", first)):
        model = Classifier()
        load_checkpoint(model, server.url(path))
        assert_same_weights(model, source)
    assert len(cached_files(_home)) == 2
    assert server.hits == {"/a/model.pth": 1, "/b/model.pth": 1}


def test_a_file_name_with_a_sha256_prefix_is_checked_and_loads_when_it_matches(server):
    source = trained()
    data = checkpoint_bytes(source.state_dict())
    name = hashed_name(data)
    server.routes[f"/{name}"] = Route(data)
    assert hash_prefix(server.url(f"/{name}")) == name[6:14]
    model = Classifier()
    load_checkpoint(model, server.url(f"/{name}"))
    assert_same_weights(model, source)


def test_a_checksum_mismatch_is_an_error_that_caches_nothing(server, _home):
    data = checkpoint_bytes(trained().state_dict())
    server.routes["/model-0123abcd.pth"] = Route(data)
    model = Classifier()
    before = state_of(model)
    with pytest.raises(CheckpointChecksumError, match="0123abcd") as info:
        load_checkpoint(model, server.url("/model-0123abcd.pth"))
    assert isinstance(info.value, ValueError)
    assert_unchanged(model, before)
    assert cached_files(_home) == []


def test_a_cached_file_that_no_longer_matches_its_hash_is_fetched_again(server, _home):
    source = trained()
    data = checkpoint_bytes(source.state_dict())
    url = server.url("/" + hashed_name(data))
    server.routes["/" + hashed_name(data)] = Route(data)
    cached = cached_download(url)
    cached.write_bytes(b"tampered" + data[8:])
    model = Classifier()
    load_checkpoint(model, url)
    assert_same_weights(model, source)
    assert server.hits["/" + hashed_name(data)] == 2
    assert cached.read_bytes() == data


@pytest.mark.parametrize("content_type", ["text/html", "application/octet-stream"])
def test_an_html_error_page_served_as_a_checkpoint_is_refused_and_not_cached(server, _home, content_type):
    page = b"<!DOCTYPE html>\n<html><body>Access denied</body></html>"
    server.routes["/model.pth"] = Route(page, content_type=content_type)
    model = Classifier()
    before = state_of(model)
    with pytest.raises(CheckpointCorruptError, match="HTML page") as info:
        load_checkpoint(model, server.url("/model.pth"))
    assert isinstance(info.value, ValueError)
    assert_unchanged(model, before)
    assert cached_files(_home) == []


def test_an_http_error_status_is_a_download_error(server, _home):
    model = Classifier()
    before = state_of(model)
    with pytest.raises(CheckpointDownloadError, match="HTTP 404") as info:
        load_checkpoint(model, server.url("/missing.pth"))
    assert isinstance(info.value, OSError)
    assert_unchanged(model, before)
    assert cached_files(_home) == []


def test_a_stalled_server_times_out_instead_of_hanging(server, _home):
    server.routes["/slow.pth"] = Route(b"x" * 100, stall=True)
    model = Classifier(init_cfg=dict(type="Pretrained", checkpoint=server.url("/slow.pth")))
    before = state_of(model)
    start = time.monotonic()
    with pytest.raises(CheckpointDownloadError, match="stalled") as info:
        load_checkpoint(model, server.url("/slow.pth"), timeout=0.2)
    assert time.monotonic() - start < 5
    assert isinstance(info.value, OSError)
    assert_unchanged(model, before)
    assert cached_files(_home) == []


def test_the_timeout_can_come_from_the_environment(server, _home, monkeypatch):
    server.routes["/slow.pth"] = Route(b"x" * 100, stall=True)
    monkeypatch.setenv("TORCHINIT_DOWNLOAD_TIMEOUT", "0.2")
    model = Classifier(init_cfg=dict(type="Pretrained", checkpoint=server.url("/slow.pth")))
    before = state_of(model)
    start = time.monotonic()
    with pytest.raises(CheckpointDownloadError, match="no data for 0.2 s"):
        model.init_weights()
    assert time.monotonic() - start < 5
    assert_unchanged(model, before)
    assert cached_files(_home) == []


@pytest.mark.parametrize("variable", ["TORCHINIT_DOWNLOAD_TIMEOUT", "TORCHINIT_DOWNLOAD_DEADLINE"])
@pytest.mark.parametrize("value", ["soon", "abc", "0", "-1", "inf", "-inf", "nan", "1e400", "1e9", "0x10"])
def test_a_bad_time_limit_in_the_environment_is_a_config_error_naming_it(
    server, monkeypatch, _home, variable, value
):
    monkeypatch.setenv(variable, value)
    server.routes["/model.pth"] = Route(checkpoint_bytes(trained().state_dict()))
    model = Classifier(init_cfg=dict(type="Pretrained", checkpoint=server.url("/model.pth")))
    before = state_of(model)
    for load in (lambda: load_checkpoint(model, server.url("/model.pth")), model.init_weights):
        with pytest.raises(ConfigValueError) as info:
            load()
        assert f"${variable}={value!r}" in str(info.value) and "above 0" in str(info.value)
        assert isinstance(info.value, ValueError)
    assert_unchanged(model, before)
    assert server.hits == {} and cached_files(_home) == []


@pytest.mark.parametrize(
    "value, error",
    [
        (float("inf"), ConfigValueError),
        (float("nan"), ConfigValueError),
        (0, ConfigValueError),
        (10**400, ConfigValueError),
        (True, ConfigTypeError),
        ("5", ConfigTypeError),
    ],
)
def test_a_bad_timeout_keyword_is_a_config_error(value, error):
    with pytest.raises(error, match="timeout"):
        cached_download("http://127.0.0.1:9/model.pth", timeout=value)
    with pytest.raises(error, match="deadline"):
        cached_download("http://127.0.0.1:9/model.pth", deadline=value)


def test_a_home_under_an_unknown_user_is_a_config_error(monkeypatch):
    monkeypatch.setenv("TORCHINIT_HOME", "~no_such_user_here/cache")
    with pytest.raises(ConfigValueError, match=r"\$TORCHINIT_HOME='~no_such_user_here/cache'"):
        cached_download("http://127.0.0.1:9/model.pth")


def test_a_connection_that_drops_mid_file_caches_nothing(server, _home):
    data = checkpoint_bytes(trained().state_dict())
    server.routes["/model.pth"] = Route(data[: len(data) // 2], declared_length=len(data))
    model = Classifier()
    before = state_of(model)
    with pytest.raises(CheckpointDownloadError) as info:
        load_checkpoint(model, server.url("/model.pth"))
    assert isinstance(info.value, OSError)
    assert_unchanged(model, before)
    assert cached_files(_home) == []


def test_an_unreachable_server_is_a_download_error(_home):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = Classifier()
    before = state_of(model)
    with pytest.raises(CheckpointDownloadError, match="cannot reach") as info:
        load_checkpoint(model, f"http://127.0.0.1:{port}/model.pth", timeout=2)
    assert isinstance(info.value, OSError)
    assert_unchanged(model, before)
    assert cached_files(_home) == []


def test_a_downloaded_pickle_that_would_run_code_is_refused(server, tmp_path):
    marker = tmp_path / "pwned"
    server.routes["/model.pth"] = Route(checkpoint_bytes({"state_dict": {}, "x": Payload(marker)}))
    model = Classifier()
    before = state_of(model)
    with pytest.raises(CheckpointUnsafeError, match="allow_pickle=True"):
        load_checkpoint(model, server.url("/model.pth"))
    with pytest.raises(CheckpointUnsafeError):
        Classifier(init_cfg=dict(type="Pretrained", checkpoint=server.url("/model.pth"))).init_weights()
    assert not marker.exists()
    assert_unchanged(model, before)


# --------------------------------------------------------------------------- progress and home
def test_no_progress_bar_when_stderr_is_not_a_terminal(server, capfd):
    server.routes["/model.pth"] = Route(checkpoint_bytes(trained().state_dict()))
    cached_download(server.url("/model.pth"))
    assert capfd.readouterr().err == ""


def test_progress_can_be_forced_on(server, capfd):
    server.routes["/model.pth"] = Route(checkpoint_bytes(trained().state_dict()))
    cached_download(server.url("/model.pth"), progress=True)
    assert "Downloading model.pth: 100.0%" in capfd.readouterr().err


def test_the_home_directory_defaults_under_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("TORCHINIT_HOME")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert get_torchinit_home() == tmp_path / ".cache" / "torchinit"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert get_torchinit_home() == tmp_path / "xdg" / "torchinit"
    monkeypatch.setenv("TORCHINIT_HOME", str(tmp_path / "mine"))
    assert get_torchinit_home() == tmp_path / "mine"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://download.pytorch.org/models/resnet50-0676ba61.pth", "0676ba61"),
        ("https://x.org/mnasnet0.5_top1_67.823-3ffadce67e.pth", "3ffadce67e"),
        ("https://x.org/model-final.pth", None),
        ("https://x.org/model-2023.pth", None),
        ("https://x.org/model.pth", None),
    ],
)
def test_the_hash_prefix_follows_the_torch_hub_naming_convention(url, expected):
    assert hash_prefix(url) == expected


def test_a_cache_directory_that_cannot_be_written_is_a_download_error(server, _home):
    _home.mkdir()
    (_home / "checkpoints").write_text("a file where the cache directory should be")
    server.routes["/model.pth"] = Route(checkpoint_bytes(trained().state_dict()))
    with pytest.raises(CheckpointDownloadError, match="cannot write to the cache directory"):
        load_checkpoint(Classifier(), server.url("/model.pth"))
    assert server.hits == {}


# --------------------------------------------------------------------------- slow, lying, tampered
def _seed_cache(home: Path) -> dict[str, bytes]:
    """An unrelated entry already in the cache; returns the cache's contents."""
    other = cache_path("http://example.invalid/other-12345678.pth")
    other.parent.mkdir(parents=True, exist_ok=True)
    other.write_bytes(b"an earlier download")
    return files_under(home)


def test_a_server_that_drips_one_byte_every_300_ms_fails_at_the_deadline(server, _home, monkeypatch):
    cache = _seed_cache(_home)
    server.routes["/drip.pth"] = Route(checkpoint_bytes(trained().state_dict()), drip=0.3)
    monkeypatch.setenv("TORCHINIT_DOWNLOAD_DEADLINE", "0.8")  # the read timeout (60 s) never fires
    url = server.url("/drip.pth")
    model = Classifier(init_cfg=dict(type="Pretrained", checkpoint=url))
    before = state_of(model)
    for load in (lambda: load_checkpoint(model, url), model.init_weights):
        start = time.monotonic()
        with pytest.raises(CheckpointDownloadError) as info:
            load()
        assert 0.7 < time.monotonic() - start < 1.5
        text = str(info.value)
        assert url in text and "deadline of 0.8 s" in text and "TORCHINIT_DOWNLOAD_DEADLINE" in text
        assert isinstance(info.value, OSError)
    assert_unchanged(model, before)
    assert files_under(_home) == cache


def test_the_deadline_keyword_bounds_a_download_too(server, _home):
    server.routes["/drip.pth"] = Route(b"x" * 100, drip=0.3)
    start = time.monotonic()
    with pytest.raises(CheckpointDownloadError, match="deadline of 0.5 s"):
        cached_download(server.url("/drip.pth"), deadline=0.5)
    assert time.monotonic() - start < 1.2
    assert cached_files(_home) == []


@pytest.mark.parametrize(
    "lie", ["body-shorter-than-announced", "body-longer-than-announced", "wrong-hash", "html"]
)
def test_a_lying_or_truncated_download_leaves_the_cache_exactly_as_it_was(server, _home, lie):
    data = checkpoint_bytes(trained().state_dict())
    path, route, error = {
        "body-shorter-than-announced": (
            "/a.pth",
            Route(data[:-100], declared_length=len(data)),
            CheckpointDownloadError,
        ),
        "body-longer-than-announced": (
            "/a.pth",
            Route(data, declared_length=len(data) - 100),
            CheckpointCorruptError,
        ),
        "wrong-hash": ("/a-0123abcd.pth", Route(data), CheckpointChecksumError),
        "html": ("/a.pth", Route(b"<html><body>Sign in</body></html>" + data), CheckpointCorruptError),
    }[lie]
    url = server.url(path)
    if lie == "wrong-hash":  # a stale copy of the same URL stays as it was, too
        cache_path(url).parent.mkdir(parents=True)
        cache_path(url).write_bytes(b"stale")
    cache = _seed_cache(_home)
    server.routes[path] = route
    model = Classifier(init_cfg=dict(type="Pretrained", checkpoint=url))
    before = state_of(model)
    for load in (lambda: load_checkpoint(model, url), model.init_weights):
        with pytest.raises(error) as info:
            load()
        assert url in str(info.value)
    assert_unchanged(model, before)
    assert files_under(_home) == cache
    assert server.hits == {path: 2}


def _rewrite_in_place(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    mtime = path.stat().st_mtime_ns
    path.write_bytes(bytes(data))
    os.utime(path, ns=(mtime + 10**9, mtime + 10**9))


def test_a_verified_download_that_changes_before_it_is_read_is_reported(server, _home, monkeypatch):
    data = checkpoint_bytes(trained().state_dict())
    name = hashed_name(data)
    server.routes[f"/{name}"] = Route(data)
    real = _download.download

    def download_then_tamper(*args, **kwargs):
        found = real(*args, **kwargs)
        _rewrite_in_place(found.path)  # after its hash was verified, before it is read
        return found

    monkeypatch.setattr(_download, "download", download_then_tamper)
    url = server.url(f"/{name}")
    model = Classifier(init_cfg=dict(type="Pretrained", checkpoint=url))
    before = state_of(model)
    for load in (lambda: load_checkpoint(model, url), model.init_weights):
        with pytest.raises(CheckpointCorruptError, match="changed while it was being read") as info:
            load()
        assert url in str(info.value)
    assert_unchanged(model, before)


def test_a_cache_directory_whose_path_is_too_long_is_a_download_error_naming_it(
    server, monkeypatch, tmp_path
):
    home = tmp_path / ("h" * 300)
    monkeypatch.setenv("TORCHINIT_HOME", str(home))
    server.routes["/model.pth"] = Route(checkpoint_bytes(trained().state_dict()))
    model = Classifier()
    before = state_of(model)
    with pytest.raises(CheckpointDownloadError, match="cannot write to the cache directory") as info:
        load_checkpoint(model, server.url("/model.pth"))
    assert str(tmp_path)[:40] in str(info.value) and "TORCHINIT_HOME" in str(info.value)
    assert_unchanged(model, before)
    assert server.hits == {}


def test_a_url_with_a_very_long_file_name_is_cached_under_a_shortened_name(server, _home):
    source = trained()
    path = "/" + "w" * 300 + ".pth"
    server.routes[path] = Route(checkpoint_bytes(source.state_dict()))
    model = Classifier()
    load_checkpoint(model, server.url(path))
    assert_same_weights(model, source)
    assert len(cache_path(server.url(path)).name) < 255


def test_open_checkpoint_passes_the_deadline_to_the_download(server, _home):
    server.routes["/drip.pth"] = Route(b"x" * 100, drip=0.3)
    with pytest.raises(CheckpointDownloadError, match="deadline of 0.4 s"):
        _sources.open_checkpoint(server.url("/drip.pth"), deadline=0.4)
    assert cached_files(_home) == []


def test_pretrained_and_load_checkpoint_take_a_deadline_of_their_own(server, _home):
    cache = _seed_cache(_home)
    server.routes["/drip.pth"] = Route(checkpoint_bytes(trained().state_dict()), drip=0.3)
    url = server.url("/drip.pth")
    model = Classifier(init_cfg=dict(type="Pretrained", checkpoint=url, deadline=0.6))
    before = state_of(model)
    for load in (model.init_weights, lambda: load_checkpoint(model, url, deadline=0.6)):
        start = time.monotonic()
        with pytest.raises(CheckpointDownloadError, match="deadline of 0.6 s"):
            load()
        assert time.monotonic() - start < 1.3
    assert_unchanged(model, before)
    assert files_under(_home) == cache


@pytest.mark.parametrize("field", ["timeout", "deadline"])
@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1, 0, "60"])
def test_pretrained_refuses_a_timeout_or_deadline_that_is_not_a_sane_number_of_seconds(field, value):
    with pytest.raises((TypeError, ValueError), match=f"Pretrained: {field}"):
        Classifier(init_cfg=dict(type="Pretrained", checkpoint="x.pth", **{field: value})).init_weights()

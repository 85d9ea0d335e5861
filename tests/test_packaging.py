"""The sdist and the wheel build, and the wheel installs into a fresh environment (no network).

``python -m build --no-isolation`` uses this environment's setuptools, and builds the wheel
from the sdist, so a file the sdist forgets fails here. The fresh environment sees this one's
torch, safetensors and rich (a ``.pth`` line), as a user's environment with torch already
installed would: pip must keep them, download nothing and install torchinit alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
VERSION = "0.1.0"
# The fresh environment must not see a source tree on PYTHONPATH (a worktree's tests run that way).
CLEAN_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    return out


def test_the_sdist_holds_the_package_data_and_the_readme(dist: Path) -> None:
    with tarfile.open(dist / f"torchinit-{VERSION}.tar.gz") as sdist:
        names = {Path(*Path(n).parts[1:]).as_posix() for n in sdist.getnames()}
    assert {"pyproject.toml", "README.md", "src/torchinit/py.typed", "src/torchinit/model_zoo/torchvision.json"} <= names


def test_the_wheel_holds_the_type_marker_the_model_zoo_and_the_command(dist: Path) -> None:
    with zipfile.ZipFile(dist / f"torchinit-{VERSION}-py3-none-any.whl") as wheel:
        names = set(wheel.namelist())
        entry_points = wheel.read(f"torchinit-{VERSION}.dist-info/entry_points.txt").decode()
    assert {"torchinit/py.typed", "torchinit/model_zoo/open_mmlab.json", "torchinit/model_zoo/torchvision.json"} <= names
    assert "torchinit = torchinit.cli:main" in entry_points


def test_the_wheel_installs_into_a_fresh_venv_keeping_the_torch_it_finds(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    existing = tmp_path / "existing"  # this environment's packages, less its own (editable) torchinit
    existing.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(("torchinit", "__editable__")):
            (existing / entry.name).symlink_to(entry)
    Path(site, "existing_packages.pth").write_text(f"{existing}\n")

    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", "--find-links", str(dist),
         "--disable-pip-version-check", "torchinit"],
        env=CLEAN_ENV,
        check=True,
        capture_output=True,
        text=True,
    )
    assert "Successfully installed torchinit-" + VERSION in install.stdout
    assert "torch-" not in install.stdout.split("Successfully installed")[-1]

    probe = (
        "import json, importlib.resources, torch, torchinit\n"
        "zoo = importlib.resources.files('torchinit') / 'model_zoo' / 'torchvision.json'\n"
        "print(json.dumps([torchinit.__file__, torch.__version__, zoo.is_file(), torchinit.__version__]))"
    )
    shown = json.loads(subprocess.run([str(python), "-c", probe], env=CLEAN_ENV, check=True, capture_output=True, text=True).stdout)
    assert shown == [str(Path(site, "torchinit", "__init__.py")), torch.__version__, True, VERSION]
    script = (venv / "bin" / "torchinit").read_text()
    assert script.startswith(f"#!{python}") and "from torchinit.cli import main" in script

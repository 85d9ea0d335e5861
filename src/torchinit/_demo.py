"""The config the ``torchinit`` command uses when it is given none: the example detector.

It is ``DETECTOR_CFG`` of the repository's ``examples/models.py`` (a small RetinaNet-style
detector: ResNet backbone, FPN neck, RetinaNet head), imported from the checkout this
package runs from, or from the current directory.
"""

from __future__ import annotations

import copy
import importlib
import sys
from pathlib import Path

from ._configfile import ConfigFile
from .errors import ConfigValueError

__all__ = ["DEMO_INPUT_SHAPE", "demo_config"]

DEMO_INPUT_SHAPE = [1, 3, 224, 224]
DEMO_NAME = "the bundled example (examples/models.py DETECTOR_CFG: a RetinaNet-style detector)"


def _checkout() -> Path | None:
    """The directory that holds ``examples/models.py``: this package's checkout, or the current one."""
    for base in (Path(__file__).resolve().parents[2], Path.cwd()):
        if (base / "examples" / "models.py").is_file():
            return base
    return None


def demo_config() -> ConfigFile:
    """The example detector's config, with the shape of the probe's input.

    Raises:
        ConfigValueError: torchinit runs from an installed wheel, outside a checkout.
    """
    root = _checkout()
    if root is None:
        raise ConfigValueError(
            "no CONFIG was given, and the bundled example needs the examples/ folder of a torchinit checkout "
            "(run from one, or after pip install -e). Pass a config file: torchinit init my_config.py."
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    models = importlib.import_module("examples.models")
    data = {"model": copy.deepcopy(models.DETECTOR_CFG), "input_shape": list(DEMO_INPUT_SHAPE)}
    return ConfigFile(DEMO_NAME, data, ["examples.models"])

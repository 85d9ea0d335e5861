"""Shim: a minimal MMLogger with mmengine's instance bookkeeping and nothing else.

``get_instance(name, log_file=None)`` makes (once) a logger that writes to ``log_file`` when
given; ``get_current_instance()`` is the latest one. torchinit does not write to it: it logs
on the ``torchinit`` logger.
"""

from __future__ import annotations

import logging
import os
from typing import Any, ClassVar


class MMLogger(logging.Logger):
    _instance_dict: ClassVar[dict[str, MMLogger]] = {}

    def __init__(self, name: str, log_file: str | None = None, log_level: int | str = "INFO") -> None:
        super().__init__(name, log_level)
        self.instance_name = name
        if log_file is not None:
            os.makedirs(os.path.dirname(log_file) or ".", exist_ok=True)
            self.addHandler(logging.FileHandler(log_file))

    @classmethod
    def get_instance(cls, name: str, **kwargs: Any) -> MMLogger:
        if name not in cls._instance_dict:
            cls._instance_dict[name] = cls(name, **kwargs)
        return cls._instance_dict[name]

    @classmethod
    def get_current_instance(cls) -> MMLogger:
        if not cls._instance_dict:
            return cls.get_instance("mmengine")
        return next(reversed(cls._instance_dict.values()))

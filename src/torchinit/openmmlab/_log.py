"""The init table that mmengine writes into its log files, written by torchinit's runs.

Loaded by the engine after a top-level ``init_weights`` run, and only then; it imports nothing
of mmengine (it writes only when mmengine's logging is already in use).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from torch import nn

__all__ = ["dump_to_mmengine_log"]


def dump_to_mmengine_log(module: nn.Module, report: Any) -> None:
    """What mmengine's top-level ``init_weights`` writes into the log files of the current
    ``MMLogger`` (a work_dir's log): every parameter with how it was initialized. Only when
    mmengine's logging is already imported (torchinit never imports it for this)."""
    logging_module = sys.modules.get("mmengine.logging")
    if logging_module is None or report is None:
        return
    try:
        mm_logger = logging_module.MMLogger.get_current_instance()
    except Exception:  # noqa: BLE001 (no usable mmengine logger: nothing to write to)
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_rank() != 0:
        return
    for handler in mm_logger.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.stream.write("Name of parameter - Initialization information\n")  # type: ignore[union-attr]  # opened: MMLogger's file handlers are not delayed
            for name, param in module.named_parameters():
                what = report[name].describe() if name in report else "not changed by init_weights"
                handler.stream.write(f"\n{name} - {param.shape}: \n{what} \n")  # type: ignore[union-attr]  # opened: MMLogger's file handlers are not delayed
            handler.stream.flush()  # type: ignore[union-attr]  # opened: MMLogger's file handlers are not delayed

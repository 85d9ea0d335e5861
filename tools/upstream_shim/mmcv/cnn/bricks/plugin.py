"""Shim: ``mmcv.cnn.bricks.plugin``: not shipped by torchinit (placeholders that raise)."""

from _not_shipped import not_shipped

globals().update(not_shipped("mmcv.cnn.bricks.plugin", "build_plugin_layer", "infer_abbr"))

# Reading a base's variable (mmengine's _base_.x) is not supported: an error, never a silent default.
_base_ = '_base_/model.py'
model = dict(width=_base_.model.width * 2)

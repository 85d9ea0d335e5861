# Two bases; dicts merge key by key, lists and other values replace.
_base_ = ['_base_/model.py', '_base_/runtime.yaml']
model = dict(width=4, init_cfg=dict(layer='Linear'), extra=dict(b=[3], c=dict(e=2)))

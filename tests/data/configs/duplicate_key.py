# Both bases define model: mmengine refuses that, and so do we.
_base_ = ['_base_/model.py', '_base_/model_again.json']

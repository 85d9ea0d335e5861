# _delete_=True: the base's init_cfg is replaced, not merged (no mode='fan_in' left over).
_base_ = '_base_/model.py'
model = dict(init_cfg=dict(_delete_=True, type='Xavier', layer='Conv2d'))

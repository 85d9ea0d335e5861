# A dict cannot merge into the base's string without _delete_=True.
_base_ = '_base_/model.py'
model = dict(type=dict(name='CliExtraNet'))

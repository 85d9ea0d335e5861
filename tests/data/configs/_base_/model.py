# The base of the inheritance fixtures (tests/test_configfile.py): a small model and a dict to merge into.
model = dict(
    type='CliExtraNet',
    width=8,
    init_cfg=dict(type='Kaiming', layer='Conv2d', mode='fan_in'),
    extra=dict(a=1, b=[1, 2], c=dict(d=1)),
)

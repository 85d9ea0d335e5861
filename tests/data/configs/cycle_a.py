_base_ = 'nested/cycle_b.yaml'
model = dict(type='CliExtraNet')

_base_ = ['_base_/model.py', '_base_/nope.py']

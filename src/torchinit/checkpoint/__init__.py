"""Checkpoint IO: reading, checking and matching pretrained weights (private implementation).

The public names live in :mod:`torchinit` and :mod:`torchinit.pretrained`; this package only
groups the modules that implement them, and importing it loads none of them::

    _pretrained       match a checkpoint to a model; plan_pretrained, load_checkpoint, load_state_dict
    _state_dict       the state dict inside a checkpoint; revise_keys and prefix
    _serialization    safe reading (weights_only, lazy safetensors), corrupt vs unsafe
    _safetensors      the validated lazy safetensors reader
    _sources          URI schemes (register_scheme), local paths, the model zoo and URLs
    _download         verified, cached downloads; TORCHINIT_HOME
    _model_zoo        the zoo tables (model_zoo/*.json, user overrides)
    _files            OS errors as checkpoint errors; a file's identity between reads
"""

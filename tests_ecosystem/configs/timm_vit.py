# A timm ViT-B/16 (two blocks, narrow) from timm's factory, initialized by the preset of its
# default scheme: `torchinit init tests_ecosystem/configs/timm_vit.py` (with tests_ecosystem
# importable: the shim lets timm import next to the CPU build of torch).
import ecosystem_shim

ecosystem_shim.install()

import timm  # noqa: E402

from torchinit import presets  # noqa: E402

model = dict(
    type=timm.create_model,
    model_name="vit_base_patch16_224",
    pretrained=False,
    depth=2,
    embed_dim=64,
    num_heads=2,
    img_size=32,
    patch_size=8,
    num_classes=10,
    init_cfg=presets.timm_vit_init(),
)
input_shape = [1, 3, 32, 32]

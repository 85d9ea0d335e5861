# A timm ViT inside a torchinit BaseModule (init_weights semantics): timm's own init_weights
# runs as the model's code unless SkipInitWeights switches it off (--cfg-options skip=true).
import ecosystem_shim

ecosystem_shim.install()

import timm  # noqa: E402

from torchinit import BaseModule, presets  # noqa: E402


class Wrapped(BaseModule):
    def __init__(self, skip=False, init_cfg=None):
        if skip:
            init_cfg = [dict(type="SkipInitWeights", layer="VisionTransformer"), *presets.timm_vit_init()]
        super().__init__(init_cfg)
        self.vit = timm.create_model("vit_base_patch16_224", pretrained=False, depth=2, embed_dim=64,
                                     num_heads=2, img_size=32, patch_size=8, num_classes=10)

    def forward(self, x):
        return self.vit(x)


model = dict(type=Wrapped, skip=False)

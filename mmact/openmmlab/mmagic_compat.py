"""Fixes for mmagic 1.2.0 models that mmact's configs train (import this
module through ``custom_imports``; it imports mmagic)."""
import torch.nn as nn
from mmagic.models.editors.dcgan import DCGANDiscriminator
from mmagic.registry import MODELS
from mmengine.model import normal_init, update_init_info
from torch.nn.modules.batchnorm import _BatchNorm


@MODELS.register_module()
class DCGANDiscriminatorPaperInit(DCGANDiscriminator):
    """mmagic's ``DCGANDiscriminator`` with a working ``init_weights``.

    mmagic 1.2.0's version records init info for every module but sets it
    only for convs and norms, so the first module (the discriminator itself)
    raises UnboundLocalError whenever mmengine's Runner initialises the
    model. This one applies the same initialisation (convs N(0, 0.02), norm
    weights N(0, 1), norm biases 0) and records it.
    """

    def init_weights(self) -> None:
        if self.init_cfg is not None and self.init_cfg['type'] == 'Pretrained':
            super().init_weights()
            return
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                normal_init(m, 0, 0.02)
                update_init_info(m, 'conv: normal init, mean 0, std 0.02')
            elif isinstance(m, _BatchNorm):
                nn.init.normal_(m.weight.data)
                nn.init.constant_(m.bias.data, 0)
                update_init_info(m, 'norm: weight N(0, 1), bias 0')

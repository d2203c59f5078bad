# ShuffleNetV2 1x on ImageNet-1K (mmpretrain model zoo: top-1 69.55 with
# ReLU), the zoo's schedule (SGD 0.5, linear decay over 300 epochs, batch
# 1024 = 16 GPUs x 64, no decay on BN). Every activation of the network
# (stem, both branches of every block, the last 1x1 conv) is
# model.backbone.act_cfg, as the ACON paper replaces them all in
# ShuffleNetV2; the variants next to this file change only that.
_base_ = ['mmpretrain::shufflenet_v2/shufflenet-v2-1x_16xb64_in1k.py',
          '../_base_/act_no_decay.py']
custom_imports = dict(imports=['mmpretrain.models', 'mmact'],
                      allow_failed_imports=False)
model = dict(backbone=dict(act_cfg=dict(type='ReLU')))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.act_no_decay_keys))

# ConvNeXt-S on ImageNet-1K (mmpretrain model zoo: top-1 83.13 with GELU),
# the zoo's schedule (AdamW 4e-3 for batch 4096 = 32 GPUs x 128, cosine
# over 300 epochs after 20 warm-up epochs, EMA). The activation of the 36
# blocks is model.backbone.act_cfg; the DiTAC variant next to this file
# (DiTAC paper, supplement Table 10) changes only that.
_base_ = ['mmpretrain::convnext/convnext-small_32xb128_in1k.py',
          '../_base_/act_no_decay.py']
custom_imports = dict(imports=['mmpretrain.models', 'mmact'],
                      allow_failed_imports=False)
model = dict(backbone=dict(act_cfg=dict(type='GELU')))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.act_no_decay_keys))

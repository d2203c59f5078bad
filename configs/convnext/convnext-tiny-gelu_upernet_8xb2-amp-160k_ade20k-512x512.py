# UperNet + ConvNeXt-T on ADE20K 512x512, 160k iterations, 8 GPUs x 2 images,
# AMP (mmseg model zoo: mIoU 46.11 with GELU): AdamW 1e-4, wd 0.05,
# layer-wise lr decay 0.9 (1-D parameters such as DiTAC's theta get no decay).
# The activation of the 18 ConvNeXt blocks is model.backbone.act_cfg; the
# variants next to this file change only that.
_base_ = ['mmseg::convnext/convnext-tiny_upernet_8xb2-amp-160k_ade20k-512x512.py']
custom_imports = dict(imports=['mmpretrain.models', 'mmact'],
                      allow_failed_imports=False)
model = dict(backbone=dict(act_cfg=dict(type='GELU')))

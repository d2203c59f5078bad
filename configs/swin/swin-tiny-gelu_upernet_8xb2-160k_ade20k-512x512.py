# UperNet + Swin-T on ADE20K 512x512, 160k iterations, 8 GPUs x 2 images
# (mmseg model zoo: mIoU 44.41 with GELU): AdamW 6e-5, wd 0.01, no decay on
# position tables, norms or activation parameters. The activation of the 12
# Swin FFNs is model.backbone.act_cfg; the variants change only that.
# This zoo schedule is the one the DiTAC paper states for UperNet (160k
# iterations, 512x512, batch 16, AdamW 6e-5, weight decay 0.01, poly power 1).
_base_ = [
    'mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py',
    '../_base_/act_no_decay.py'
]
custom_imports = dict(imports=['mmact'], allow_failed_imports=False)
model = dict(backbone=dict(act_cfg=dict(type='GELU')))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.act_no_decay_keys))

# The DiTAC paper's stated UperNet schedule (supplement): 160k iterations,
# 512x512 crops, batch 16, AdamW lr 6e-5, weight decay 0.01, poly decay
# power 1, ImageNet-pretrained backbone. It differs from mmseg's ConvNeXt-T
# zoo schedule (the config this one builds on) in the optimizer: lr 6e-5
# instead of 1e-4, weight decay 0.01 instead of 0.05, no layer-wise lr
# decay. The 1500-iteration linear warm-up and AMP are kept from mmseg's
# configs, which the paper says it follows (its Swin-T schedule is mmseg's
# Swin-T one, warm-up included). 1-D activation parameters get no decay.
_base_ = ['./convnext-tiny-gelu_upernet_8xb2-amp-160k_ade20k-512x512.py',
          '../_base_/act_no_decay.py']
optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999),
                   weight_decay=0.01),
    paramwise_cfg=dict(custom_keys=_base_.act_no_decay_keys))

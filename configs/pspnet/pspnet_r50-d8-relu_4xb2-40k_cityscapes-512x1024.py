# PSPNet R-50-D8 on Cityscapes 512x1024, 40k iterations, 4 GPUs x 2 images
# (mmseg model zoo: mIoU 77.85 with ReLU): SGD 0.01, poly schedule. This is
# the schedule the DiTAC paper states for PSPNet (40k iterations, 512x1024,
# batch 8, lr 0.01, weight decay 5e-4, poly power 0.9).
# ResNetV1c hard-codes its ReLUs (deep stem, one module called three times
# per Bottleneck), so ActivationSwap builds the model and replaces every
# nn.ReLU (backbone and heads) by model.act_cfg: ReLU here, the reference;
# the variants next to this file change only model.act_cfg.
_base_ = ['mmseg::pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py',
          '../_base_/act_no_decay.py']
custom_imports = dict(imports=['mmact'], allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='ActivationSwap',
    model=_base_.model,
    act_cfg=dict(type='ReLU'),
    rules=[dict(replace=['ReLU'])])
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.act_no_decay_keys))

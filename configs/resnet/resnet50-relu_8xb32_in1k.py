# ResNet-50 on ImageNet-1K (mmpretrain model zoo: top-1 76.55 with ReLU):
# SGD 0.1, momentum 0.9, weight decay 1e-4, 100 epochs, lr x0.1 at 30 / 60 /
# 90, batch 256 = 8 GPUs x 32 (the zoo schedule; neither the LayerAct nor
# the ACON paper states another in its summary).
# ResNet hard-codes its ReLUs (one module called three times per
# Bottleneck), so ActivationSwap builds the model and replaces them by
# model.act_cfg: ReLU here, the reference. The LayerAct variants replace
# every ReLU (alpha = 0.1 on ImageNet, as the paper sets it); the ACON
# variants replace, as the ACON paper's ResNets do, only the activation
# after the 3x3 convolution of each Bottleneck (calls=[1]).
_base_ = ['mmpretrain::resnet/resnet50_8xb32_in1k.py',
          '../_base_/act_no_decay.py']
custom_imports = dict(imports=['mmpretrain.models', 'mmact'],
                      allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='ActivationSwap',
    model=_base_.model,
    act_cfg=dict(type='ReLU'),
    rules=[dict(replace=['ReLU'])])
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.act_no_decay_keys))

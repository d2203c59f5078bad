# ResNet-20 on CIFAR-100: as resnet20-relu_8xb16_cifar10.py with mmpretrain's
# CIFAR-100 data and its CIFAR-100 schedule (weight decay 5e-4, lr x0.2 at
# epochs 60, 120 and 160 of 200).
_base_ = ['mmpretrain::_base_/datasets/cifar100_bs16.py',
          'mmpretrain::_base_/schedules/cifar10_bs128.py',
          'mmpretrain::_base_/default_runtime.py',
          '../_base_/cifar_resnet20.py',
          '../_base_/act_no_decay.py']
model = dict(head=dict(num_classes=100))
optim_wrapper = dict(
    optimizer=dict(weight_decay=0.0005),
    paramwise_cfg=dict(custom_keys=_base_.act_no_decay_keys))
param_scheduler = dict(type='MultiStepLR', by_epoch=True,
                       milestones=[60, 120, 160], gamma=0.2)

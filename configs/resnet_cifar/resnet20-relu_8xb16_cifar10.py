# ResNet-20 (He et al.'s CIFAR ResNet, 0.27 M parameters, shortcut A) on
# CIFAR-10, the network of the LayerAct paper's CIFAR experiments. The
# paper does not state its CIFAR schedule: this is mmpretrain's CIFAR one
# (SGD lr 0.1, momentum 0.9, weight decay 1e-4, 200 epochs, lr x0.1 at
# epochs 100 and 150, batch 128 = 8 GPUs x 16; random crop + flip).
# The activation (stem and every block) is model.backbone.act_cfg; the
# variants next to this file change only that (LayerAct alpha = 1e-5 on
# CIFAR, as the paper sets it) or the depth.
_base_ = ['mmpretrain::_base_/datasets/cifar10_bs16.py',
          'mmpretrain::_base_/schedules/cifar10_bs128.py',
          'mmpretrain::_base_/default_runtime.py',
          '../_base_/cifar_resnet20.py',
          '../_base_/act_no_decay.py']
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.act_no_decay_keys))

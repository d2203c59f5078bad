_base_ = ['./resnet32-relu_8xb16_cifar100.py']
model = dict(backbone=dict(act_cfg=dict(type='SiLU')))

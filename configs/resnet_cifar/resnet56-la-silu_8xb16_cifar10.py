_base_ = ['./resnet56-relu_8xb16_cifar10.py']
model = dict(backbone=dict(act_cfg=dict(type='LA-SiLU', alpha=1e-5)))

_base_ = ['./resnet20-relu_8xb16_cifar10.py']
model = dict(backbone=dict(depth=32))

# ResNet-20 (He et al.'s CIFAR ResNet, 0.27 M parameters, shortcut A) as an
# mmpretrain classifier; the activation of the stem and every block is
# model.backbone.act_cfg.
custom_imports = dict(imports=['mmpretrain.models', 'mmact'],
                      allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='CIFARResNet', depth=20, act_cfg=dict(type='ReLU')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=64,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))

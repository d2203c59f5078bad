_base_ = ['./swin-tiny-gelu_upernet_8xb2-160k_ade20k-512x512.py']
model = dict(backbone=dict(act_cfg=dict(type='ReLU')))

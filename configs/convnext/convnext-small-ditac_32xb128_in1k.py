_base_ = ['./convnext-small-gelu_32xb128_in1k.py']
model = dict(backbone=dict(act_cfg=dict(type='DiTAC', init='identity')))

_base_ = ['./convnext-tiny-gelu_upernet_8xb2-amp-160k_ade20k-512x512_paper.py']
model = dict(backbone=dict(act_cfg=dict(type='DiTAC', init='identity')))

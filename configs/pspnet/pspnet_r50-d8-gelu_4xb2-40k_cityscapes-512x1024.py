_base_ = ['./pspnet_r50-d8-relu_4xb2-40k_cityscapes-512x1024.py']
model = dict(act_cfg=dict(type='GELU'))

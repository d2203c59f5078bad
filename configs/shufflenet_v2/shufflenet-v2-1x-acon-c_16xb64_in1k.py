_base_ = ['./shufflenet-v2-1x-relu_16xb64_in1k.py']
model = dict(backbone=dict(act_cfg=dict(type='ACON-C')))

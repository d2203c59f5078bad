_base_ = ['./resnet50-relu_8xb32_in1k.py']
model = dict(act_cfg=dict(type='HardSiLU'))

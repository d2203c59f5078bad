_base_ = ['./retinanet_r50-relu_fpn_1x_coco.py']
model = dict(act_cfg=dict(type='LA-SiLU'))

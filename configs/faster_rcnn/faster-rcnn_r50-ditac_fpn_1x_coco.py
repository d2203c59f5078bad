_base_ = ['./faster-rcnn_r50-relu_fpn_1x_coco.py']
model = dict(act_cfg=dict(type='DiTAC', init='identity'))

_base_ = ['./rtmdet_tiny-silu_8xb32-300e_coco.py']
act_cfg = dict(type='ACON-C')
model = dict(backbone=dict(act_cfg=act_cfg), neck=dict(act_cfg=act_cfg),
             bbox_head=dict(act_cfg=act_cfg))

# RTMDet-tiny on COCO, 300 epochs, 8 GPUs x 32 images (mmdet model zoo: box
# AP 40.9 with SiLU). Backbone (CSPNeXt), neck and head take act_cfg; the
# variants change those three.
_base_ = ['mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py',
          '../_base_/act_no_decay.py']
custom_imports = dict(imports=['mmact'], allow_failed_imports=False)
act_cfg = dict(type='SiLU', inplace=True)
model = dict(backbone=dict(act_cfg=act_cfg), neck=dict(act_cfg=act_cfg),
             bbox_head=dict(act_cfg=act_cfg))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.act_no_decay_keys))

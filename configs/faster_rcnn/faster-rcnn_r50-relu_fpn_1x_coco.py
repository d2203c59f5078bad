# Faster R-CNN R-50-FPN on COCO, 12 epochs, 8 GPUs x 2 images (mmdet model
# zoo: box AP 37.4 with ReLU). ResNet, the RPN head (F.relu) and the shared
# bbox head (one nn.ReLU for both fcs) hard-code their ReLUs, so
# ActivationSwap builds the detector and replaces them all by model.act_cfg:
# ReLU here, the reference; the variants change only model.act_cfg.
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
          '../_base_/act_no_decay.py']
custom_imports = dict(imports=['mmact'], allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='ActivationSwap',
    model=_base_.model,
    act_cfg=dict(type='ReLU'),
    rules=[dict(replace=['ReLU', 'F.relu'])])
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.act_no_decay_keys))

# RetinaNet R-50-FPN on COCO, 12 epochs, 8 GPUs x 2 images (mmdet model zoo:
# box AP 36.5 with ReLU). ResNet and RetinaHead hard-code their ReLUs, so
# ActivationSwap builds the detector and replaces every nn.ReLU (and F.relu
# calls, where made) by model.act_cfg: ReLU here, the reference; the
# variants next to this file change only model.act_cfg.
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
          '../_base_/act_no_decay.py']
custom_imports = dict(imports=['mmact'], allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='ActivationSwap',
    model=_base_.model,
    act_cfg=dict(type='ReLU'),
    rules=[dict(replace=['ReLU', 'F.relu'])])
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.act_no_decay_keys))

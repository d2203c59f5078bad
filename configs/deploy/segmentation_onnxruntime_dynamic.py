# mmdeploy 1.3.1: an mmseg model to ONNX for ONNX Runtime, dynamic batch and
# image size, the label map computed in the graph (with_argmax).
#   from mmdeploy.apis import torch2onnx
#   torch2onnx(image, work_dir, 'end2end.onnx', DEPLOY_CFG, MODEL_CFG, CKPT)
_base_ = ['./_base_/onnxruntime.py']
onnx_config = dict(
    output_names=['output'],
    dynamic_axes=dict(
        input={0: 'batch', 2: 'height', 3: 'width'},
        output={0: 'batch', 2: 'height', 3: 'width'}))
codebase_config = dict(type='mmseg', task='Segmentation', with_argmax=True)

# mmdeploy 1.3.1: an mmseg model to ONNX for ONNX Runtime, dynamic batch and
# image size, the label map computed in the graph (with_argmax).
#   from mmdeploy.apis import torch2onnx
#   torch2onnx(image, work_dir, 'end2end.onnx', DEPLOY_CFG, MODEL_CFG, CKPT)
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=11,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['output'],
    input_shape=None,
    optimize=True,
    dynamic_axes=dict(
        input={0: 'batch', 2: 'height', 3: 'width'},
        output={0: 'batch', 2: 'height', 3: 'width'}))
codebase_config = dict(type='mmseg', task='Segmentation', with_argmax=True)
backend_config = dict(type='onnxruntime')

# As segmentation_onnxruntime_dynamic.py for a fixed 512x512 input.
_base_ = ['./segmentation_onnxruntime_dynamic.py']
onnx_config = dict(input_shape=[512, 512], dynamic_axes=None)

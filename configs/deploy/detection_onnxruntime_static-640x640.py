# As detection_onnxruntime_dynamic.py for a fixed 640x640 input.
_base_ = ['./detection_onnxruntime_dynamic.py']
onnx_config = dict(input_shape=[640, 640], dynamic_axes=None)

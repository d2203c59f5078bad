# MobileNetV3-Large on ImageNet-1K (mmpretrain model zoo: top-1 74.04),
# the zoo's schedule (RMSprop 0.064, lr x0.973 every 2 epochs, 600 epochs,
# batch 1024 = 8 GPUs x 128). Its activations are fixed per layer by the
# architecture (ReLU in the early blocks, HSwish later and in the head;
# ReLU + HSigmoid inside the squeeze-excitation gates): this is the
# reference; the DiTAC variant next to it swaps them.
_base_ = ['mmpretrain::mobilenet_v3/mobilenet-v3-large_8xb128_in1k.py',
          '../_base_/act_no_decay.py']
custom_imports = dict(imports=['mmpretrain.models', 'mmact'],
                      allow_failed_imports=False)
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.act_no_decay_keys))

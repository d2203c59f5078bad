_base_ = ['./resnet50-relu_8xb32_in1k.py']
# The activation after each Bottleneck's 3x3 convolution (16 of them).
model = dict(act_cfg=dict(type='Meta-ACON'),
             rules=[dict(replace='ReLU', include='backbone.layer*',
                         calls=[1])])

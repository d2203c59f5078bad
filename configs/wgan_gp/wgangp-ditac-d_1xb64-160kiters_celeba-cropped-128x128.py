# DiTAC in the discriminator (every activation), the gradient penalty
# differentiating through it; ReLU generator.
_base_ = ['./wgangp-lrelu_1xb64-160kiters_celeba-cropped-128x128.py']
model = dict(discriminator=dict(act_cfg=dict(_delete_=True, type='DiTAC',
                                             init='prior')))

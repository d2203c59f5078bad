# DiTAC in both networks (generator: every ReLU but the output Tanh).
_base_ = ['./wgangp-ditac-d_1xb64-160kiters_celeba-cropped-128x128.py']
model = dict(generator=dict(act_cfg=dict(type='DiTAC', init='prior')))

# DiTAC in the generator only.
_base_ = ['./dcgan-relu_1xb128-300kiters_celeba-cropped-64.py']
model = dict(generator=dict(default_act_cfg=dict(type='DiTAC', init='prior')))

# L-DiTAC in the discriminator: LeakyReLU 0.2 of the warped input, i.e. the
# zoo's LeakyReLU with a trainable warp on [a, b].
_base_ = ['./wgangp-lrelu_1xb64-160kiters_celeba-cropped-128x128.py']
model = dict(discriminator=dict(act_cfg=dict(
    _delete_=True, type='L-DiTAC', negative_slope=0.2, init='prior')))

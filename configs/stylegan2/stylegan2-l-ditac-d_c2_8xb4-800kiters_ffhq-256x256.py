# L-DiTAC in the discriminator: LeakyReLU 0.2 of the warped input, the zoo's
# activation with a trainable warp on [a, b].
_base_ = ['./stylegan2-lrelu_c2_8xb4-800kiters_ffhq-256x256.py']
model = dict(discriminator=dict(act_cfg=dict(
    _delete_=True, type='L-DiTAC', negative_slope=0.2, init='prior')))

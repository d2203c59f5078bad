# DiTAC in the generator, L-DiTAC (LeakyReLU of the warped input, slope 0.2)
# in the discriminator.
_base_ = ['./dcgan-ditac-g_1xb128-300kiters_celeba-cropped-64.py']
model = dict(
    discriminator=dict(default_act_cfg=dict(
        _delete_=True, type='L-DiTAC', negative_slope=0.2, init='prior')))

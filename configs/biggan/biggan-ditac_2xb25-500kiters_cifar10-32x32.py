# DiTAC in generator and discriminator (inplace=False: the discriminator's
# blocks reuse their input for the shortcut).
_base_ = ['./biggan-relu_2xb25-500kiters_cifar10-32x32.py']
model = dict(
    generator=dict(act_cfg=dict(type='DiTAC', init='prior')),
    discriminator=dict(act_cfg=dict(type='DiTAC', init='prior')))

# DCGAN 64x64 on an unconditional image folder (mmagic's CelebA-cropped
# config: Adam 2e-4, 300k iterations, batch 128; it reports MS-SSIM 0.2899
# and SWD, no FID). The generator's activation is
# model.generator.default_act_cfg (ReLU), the discriminator's
# model.discriminator.default_act_cfg (LeakyReLU 0.2): the variants next to
# this file change those. Generate a stand-in folder with
# `python tools/generate_data.py images`.
_base_ = ['mmagic::dcgan/dcgan_1xb128-300kiters_celeba-cropped-64.py']
# mmact.openmmlab.mmagic_compat: mmagic 1.2.0's DCGANDiscriminator cannot be
# initialised by the Runner (UnboundLocalError); DCGANDiscriminatorPaperInit
# is the same network with a working init_weights.
custom_imports = dict(imports=['mmact', 'mmact.openmmlab.mmagic_compat'],
                      allow_failed_imports=False)
model = dict(
    generator=dict(default_act_cfg=dict(type='ReLU')),
    discriminator=dict(
        type='DCGANDiscriminatorPaperInit',
        default_act_cfg=dict(type='LeakyReLU', negative_slope=0.2)))

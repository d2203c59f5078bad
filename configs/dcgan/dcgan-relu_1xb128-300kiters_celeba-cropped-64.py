# DCGAN 64x64 on an unconditional image folder (mmagic's CelebA-cropped
# config: Adam 2e-4, 300k iterations, batch 128; it reports MS-SSIM 0.2899
# and SWD, no FID). The generator's activation is
# model.generator.default_act_cfg (ReLU), the discriminator's
# model.discriminator.default_act_cfg (LeakyReLU 0.2): the variants next to
# this file change those. Generate a stand-in folder with
# `python tools/generate_data.py images`.
_base_ = ['mmagic::dcgan/dcgan_1xb128-300kiters_celeba-cropped-64.py']
custom_imports = dict(imports=['mmact'], allow_failed_imports=False)
model = dict(
    generator=dict(default_act_cfg=dict(type='ReLU')),
    discriminator=dict(
        default_act_cfg=dict(type='LeakyReLU', negative_slope=0.2)))

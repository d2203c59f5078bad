# StyleGAN2 config-f 256x256 on FFHQ with R1 regularisation (mmagic's model
# zoo config: R1 weight 10/2 x 16 every 16 D steps, logged as 'loss_r1_gp';
# path-length regularisation of G every 4 steps; G EMA; Adam 2e-3;
# 800k iterations, 8 GPUs x 4 images; it reports FID-50k 3.99 (sampled
# with the EMA generator)). Every StyleGAN2 layer fuses its bias into
# LeakyReLU 0.2 x √2 (mmcv's FusedBiasLeakyReLU), so each network is built
# through ActivationSwap, which replaces those by act(x + bias) x √2 with the
# same biases (mmact.openmmlab.swap.fused): LeakyReLU 0.2 here, the
# reference; the variants next to this file change act_cfg.
# Generate a stand-in image folder with
# `python tools/generate_data.py images --size 256`.
_base_ = ['mmagic::styleganv2/stylegan2_c2_8xb4-800kiters_ffhq-256x256.py']
custom_imports = dict(imports=['mmact'], allow_failed_imports=False)
model = dict(
    generator=dict(
        _delete_=True,
        type='ActivationSwap',
        model=_base_.model.generator,
        act_cfg=dict(type='LeakyReLU', negative_slope=0.2),
        rules=[dict(replace=['FusedBiasLeakyReLU'])]),
    discriminator=dict(
        _delete_=True,
        type='ActivationSwap',
        model=_base_.model.discriminator,
        act_cfg=dict(type='LeakyReLU', negative_slope=0.2),
        rules=[dict(replace=['FusedBiasLeakyReLU'])]))
# torch >= 2.6's Adam takes betas as two floats (the zoo writes (0, ...)).
optim_wrapper = dict(
    generator=dict(optimizer=dict(betas=(0., 0.99**(4 / 5)))),
    discriminator=dict(optimizer=dict(betas=(0., 0.99**(16 / 17)))))
# Real images go to the data samples, as in mmagic's unconditional image
# configs: the zoo's PackInputs(keys=['gt']) makes them the model's inputs,
# which a metric sampling through the val loader (SWD) hands to the
# generator as noise.
val_pipeline = [dict(type='LoadImageFromFile', key='gt'),
                dict(type='PackInputs')]
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=val_pipeline))

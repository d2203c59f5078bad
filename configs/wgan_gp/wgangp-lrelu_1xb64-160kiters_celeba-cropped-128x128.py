# WGAN-GP 128x128 on CelebA-cropped: mmagic's model zoo config
# wgan-gp/wgangp_GN_1xb64-160kiters_celeba-cropped-128x128.py (GN
# discriminator, gradient penalty weight 10, logged as 'loss_gp'; 5 D steps
# per G step; Adam 1e-4, betas (0.5, 0.9); 160k iterations, batch 64; it
# reports MS-SSIM 0.2601 and SWD), restated here because mmengine 0.10.7
# cannot inherit from a package folder with a '-' in its name.
# Generator and discriminator hard-code part of their activations (the
# noise head's ReLU; the D's from-RGB and decision-head LeakyReLUs), so each
# network is built through ActivationSwap with one act_cfg for all of its
# activations: the zoo's ReLU (G) and LeakyReLU 0.2 (D) here, the reference;
# the variants next to this file change those. Generate a stand-in image
# folder with `python tools/generate_data.py images --size 128`.
_base_ = ['mmagic::_base_/datasets/unconditional_imgs_128x128.py',
          'mmagic::_base_/gen_default_runtime.py']
custom_imports = dict(imports=['mmact'], allow_failed_imports=False)
model = dict(
    type='WGANGP',
    data_preprocessor=dict(type='DataPreprocessor'),
    generator=dict(
        type='ActivationSwap',
        model=dict(type='WGANGPGenerator', noise_size=128, out_scale=128),
        act_cfg=dict(type='ReLU'),
        rules=[dict(replace=['ReLU'])]),
    discriminator=dict(
        type='ActivationSwap',
        model=dict(
            type='WGANGPDiscriminator',
            in_channel=3,
            in_scale=128,
            conv_module_cfg=dict(
                conv_cfg=None,
                kernel_size=3,
                stride=1,
                padding=1,
                bias=True,
                act_cfg=dict(type='LeakyReLU', negative_slope=0.2),
                norm_cfg=dict(type='GN'),
                order=('conv', 'norm', 'act'))),
        act_cfg=dict(type='LeakyReLU', negative_slope=0.2),
        rules=[dict(replace=['LeakyReLU'])]),
    discriminator_steps=5,
    loss_config=dict(gp_norm_mode='HWC', gp_loss_weight=10))

batch_size = 64
data_root = './data/celeba-cropped/cropped_images_aligned_png/'
train_dataloader = dict(
    batch_size=batch_size, dataset=dict(data_root=data_root))
val_dataloader = dict(batch_size=batch_size, dataset=dict(data_root=data_root))
test_dataloader = dict(
    batch_size=batch_size, dataset=dict(data_root=data_root))

train_cfg = dict(max_iters=160000)
optim_wrapper = dict(
    generator=dict(optimizer=dict(type='Adam', lr=0.0001, betas=(0.5, 0.9))),
    discriminator=dict(
        optimizer=dict(type='Adam', lr=0.0001, betas=(0.5, 0.9))))

custom_hooks = [
    dict(
        type='VisualizationHook',
        interval=5000,
        fixed_input=True,
        vis_kwargs_list=dict(type='GAN', name='fake_img'))
]
metrics = [
    dict(
        type='MS_SSIM', prefix='ms-ssim', fake_nums=10000,
        sample_model='orig'),
    dict(
        type='SWD',
        prefix='swd',
        fake_nums=16384,
        sample_model='orig',
        image_shape=(3, 128, 128))
]
default_hooks = dict(checkpoint=dict(save_best='swd/avg'))
val_evaluator = dict(metrics=metrics)
test_evaluator = dict(metrics=metrics)

# BigGAN 32x32, class-conditional, 500k iterations, 2 GPUs x 25 images
# (mmagic model zoo on CIFAR-10: FID 9.78, IS 8.70; both metrics download
# Inception weights on first use). mmagic's CIFAR10 dataset needs the
# md5-checked pickles, so the data here is a folder of images with a
# `<path> <label>` list (BasicConditionalDataset): export CIFAR-10 that way,
# or generate a stand-in with `python tools/generate_data.py conditional`.
# Generator and discriminator activations are their act_cfg (ReLU); the
# variants next to this file change those.
_base_ = ['mmagic::biggan/biggan_2xb25-500kiters_cifar10-32x32.py']
custom_imports = dict(imports=['mmact'], allow_failed_imports=False)
data_root = 'data/cifar10_png'
cifar_dataset = dict(
    _delete_=True,
    type='BasicConditionalDataset',
    data_root=data_root,
    ann_file='train.txt',
    pipeline=[dict(type='LoadImageFromFile', key='gt'),
              dict(type='PackInputs')])
train_dataloader = dict(dataset=cifar_dataset)
val_dataloader = dict(dataset=cifar_dataset)
test_dataloader = dict(dataset=cifar_dataset)
model = dict(
    generator=dict(act_cfg=dict(type='ReLU')),
    discriminator=dict(act_cfg=dict(type='ReLU')))

# UperNet + ConvNeXt-T on ADE20K 512x512, 160k, with DiTAC in every
# ConvNeXt block (the model zoo's reference schedule: AdamW 1e-4, wd 0.05,
# layer-wise lr decay 0.9, AMP, 8 GPUs x 2 images). θ starts at the
# identity (exact GELU), the right start for the GELU-pretrained backbone;
# θ is 1-D, so the layer-decay constructor applies no weight decay to it.
_base_ = ['mmseg::convnext/convnext-tiny_upernet_8xb2-amp-160k_ade20k-512x512.py']
custom_imports = dict(imports=['mmpretrain.models', 'mmact'],
                      allow_failed_imports=False)
model = dict(backbone=dict(act_cfg=dict(type='DiTAC', init='identity')))

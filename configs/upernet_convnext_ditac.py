# The short name of convnext/convnext-tiny-ditac_upernet_8xb2-amp-160k_ade20k-512x512.py:
# UperNet + ConvNeXt-T on ADE20K 512x512, 160k, with DiTAC in every ConvNeXt
# block (model zoo schedule: AdamW 1e-4, wd 0.05, layer-wise lr decay 0.9,
# AMP, 8 GPUs x 2 images). theta starts at the identity (exact GELU), the
# right start for the GELU-pretrained backbone; theta is 1-D, so the
# layer-decay constructor applies no weight decay to it.
_base_ = ['./convnext/convnext-tiny-ditac_upernet_8xb2-amp-160k_ade20k-512x512.py']

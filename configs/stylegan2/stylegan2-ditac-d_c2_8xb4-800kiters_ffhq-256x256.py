# DiTAC in the discriminator (every layer), the R1 penalty differentiating
# through it; the zoo's generator.
_base_ = ['./stylegan2-lrelu_c2_8xb4-800kiters_ffhq-256x256.py']
model = dict(discriminator=dict(act_cfg=dict(_delete_=True, type='DiTAC',
                                             init='prior')))

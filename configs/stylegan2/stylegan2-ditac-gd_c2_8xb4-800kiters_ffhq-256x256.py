# DiTAC in both networks (generator: the mapping MLP and every synthesis
# layer).
_base_ = ['./stylegan2-ditac-d_c2_8xb4-800kiters_ffhq-256x256.py']
model = dict(generator=dict(act_cfg=dict(_delete_=True, type='DiTAC',
                                         init='prior')))

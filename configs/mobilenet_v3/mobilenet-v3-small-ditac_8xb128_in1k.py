# DiTAC in place of every ReLU and HSwish of the network and its head
# (DiTAC paper, supplement Table 10). The squeeze-excitation gates keep
# theirs: a gate scales channels by a factor in [0, 1] (HSigmoid), which
# DiTAC, unbounded outside its window, would not keep.
_base_ = ['./mobilenet-v3-small-hswish_8xb128_in1k.py']
model = dict(
    _delete_=True,
    type='ActivationSwap',
    model=_base_.model,
    act_cfg=dict(type='DiTAC', init='identity'),
    rules=[dict(replace=['ReLU', 'HSwish'], exclude=['*.se.*'])])

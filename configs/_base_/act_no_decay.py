# paramwise_cfg.custom_keys that keep weight decay off activation parameters
# (DiTAC theta, PDELU alpha, Swish / ACON beta, ACON p1 / p2): decay pulls
# them towards the identity warp / zero. Family configs merge them into their
# optimizer as `custom_keys=_base_.act_no_decay_keys` (the same keys as
# mmact.no_decay_custom_keys()).
act_no_decay_keys = {
    '.theta': dict(decay_mult=0.0),
    '.alpha': dict(decay_mult=0.0),
    '.beta': dict(decay_mult=0.0),
    '.p1': dict(decay_mult=0.0),
    '.p2': dict(decay_mult=0.0),
}

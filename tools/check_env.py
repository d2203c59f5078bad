"""Verify that the OpenMMLab stack mmact builds on is importable.

Exits non-zero and names every missing piece otherwise.
"""
import importlib
import platform
import sys
import warnings

MODULES = [
    'torch', 'torchvision', 'triton', 'mmengine', 'mmcv.ops', 'mmseg.models',
    'mmdet.models', 'mmpretrain.models', 'mmagic.models', 'mmact',
    'onnx', 'onnxscript', 'onnxruntime', 'mmdeploy.apis',
]


def main() -> int:
    quiet = '--quiet' in sys.argv
    if quiet:
        warnings.simplefilter('ignore')
    missing = []
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # any import failure means a broken stack
            missing.append(f'{name}: {type(exc).__name__}: {exc}')
    if not missing and platform.machine() == 'x86_64':
        from mmact.ops._backend import CPU_KERNELS_BUILT
        if not CPU_KERNELS_BUILT:
            missing.append('mmact._C: the compiled CPU kernels are not built '
                           'or older than the sources (pip install '
                           '--no-build-isolation -e .)')
    if missing:
        print('mmact environment is incomplete:', file=sys.stderr)
        for line in missing:
            print(f'  - {line}', file=sys.stderr)
        return 1
    if not quiet:
        import mmcv
        import torch
        print(f'environment OK: torch {torch.__version__}, mmcv {mmcv.__version__}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

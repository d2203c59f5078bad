import glob
import platform

from setuptools import find_packages, setup


def read_version() -> str:
    scope: dict = {}
    with open('mmact/version.py') as f:
        exec(f.read(), scope)
    return scope['__version__']


def cpu_extension() -> dict:
    """mmact._C, the fused CPU kernels (x86-64 with AVX2), built against
    the installed torch (``pip install --no-build-isolation``). Without
    it mmact runs its vectorised PyTorch paths."""
    try:
        from torch.utils.cpp_extension import BuildExtension, CppExtension
    except ImportError:
        return {}
    if platform.machine() not in ('x86_64', 'AMD64'):
        return {}
    # ATen's 8-lane float vectors (erf, exp from the Sleef inside
    # libtorch_cpu) in their AVX2 form; OpenMP for at::parallel_for. No
    # implicit FMA contraction: the DiTAC lookup rounds x * scale exactly
    # as ops/ditac.py does (explicit fmadd calls stay fused).
    flags = ['-O3', '-mavx2', '-mfma', '-mf16c', '-fopenmp',
             '-ffp-contract=off', '-DCPU_CAPABILITY=AVX2',
             '-DCPU_CAPABILITY_AVX2']
    # The AVX-512 kernels last (csrc/avx512/ditac.cpp says why).
    sources = sorted(glob.glob('mmact/ops/csrc/*.cpp')) + sorted(
        glob.glob('mmact/ops/csrc/avx512/*.cpp'))
    ext = CppExtension('mmact._C', sources,
                       extra_compile_args=flags, extra_link_args=['-fopenmp'])
    return dict(ext_modules=[ext], cmdclass={'build_ext': BuildExtension})


setup(
    name='mmact',
    version=read_version(),
    description='Activation-function research toolbox for OpenMMLab',
    packages=find_packages(include=['mmact', 'mmact.*']),
    python_requires='>=3.10',
    # The pinned stack lives in requirements/ and is installed by
    # tools/setup_env.sh (mmcv needs a source build with ops).
    install_requires=['torch', 'mmengine', 'mmcv'],
    **cpu_extension(),
)

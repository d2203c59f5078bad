from setuptools import find_packages, setup


def read_version() -> str:
    scope: dict = {}
    with open('mmact/version.py') as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mmact',
    version=read_version(),
    description='Activation-function research toolbox for OpenMMLab',
    packages=find_packages(include=['mmact', 'mmact.*']),
    python_requires='>=3.10',
    # The pinned stack lives in requirements/ and is installed by
    # tools/setup_env.sh (mmcv needs a source build with ops).
    install_requires=['torch', 'mmengine', 'mmcv'],
)

"""Safe checkpoint loading for the OpenMMLab stack.

torch >= 2.6 loads checkpoints with ``weights_only=True``: only tensors,
containers and an allowlist of globals are unpickled, so a checkpoint
cannot run code. mmengine 0.10.7 checkpoints also hold a few objects that
torch does not know (the message hub's ``HistoryBuffer``, numpy scalars and
arrays); ``import mmact`` adds exactly those to torch's allowlist
(:data:`SAFE_GLOBALS`, through ``torch.serialization.add_safe_globals``),
so mmact's tools and the downstream projects' own tools (train
``--resume``, ``load_from``, test) load them with ``weights_only=True``.
mmengine pickles a HistoryBuffer with ``builtins.getattr`` calls, which no
allowlist can admit safely: with mmact imported, buffers are written
without them (see :func:`_reduce_history_buffer`). Checkpoints written by
a process without mmact hold them and are refused like any other file with
unknown globals.

Anything else is refused. A file the user made and trusts loads through the
``trusted://`` checkpoint scheme (registered with mmengine's
``CheckpointLoader``; mmact's tools add it for ``--trust-checkpoint``),
which unpickles that one file without the check.
"""
import copyreg
import os.path as osp
import re
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.registry import HOOKS
from mmengine.runner.checkpoint import CheckpointLoader

TRUSTED_PREFIX = 'trusted://'
TRUST_HELP = ("load the checkpoint without torch's weights_only check: only "
              'for a file you made or trust (unpickling it can run code)')

# What mmengine 0.10.7 checkpoints hold besides tensors and plain
# containers, found by scanning checkpoints of every shipped config family
# (seg, det incl. the RTMDet EMA state, gen, cls) with
# ``torch.serialization.get_unsafe_globals_in_checkpoint``:
# - HistoryBuffer: the message hub's logged scalars ('message_hub');
# - numpy scalars (``scalar`` + ``dtype``): values logged as numpy numbers
#   (metrics of mmseg, mmdet, mmpretrain);
# - numpy arrays (``_reconstruct``, ``ndarray`` + ``dtype``): the
#   HistoryBuffer's histories;
# - the numeric dtype classes: torch sets a rebuilt dtype's state only for
#   allowlisted types, and ``type(np.dtype('f8'))`` is ``Float64DType``
#   (scanning shows no GLOBAL for them, loading fails without them).
# Each of these only rebuilds data; none calls code chosen by the file.
_NUMPY_DTYPES = (np.dtypes.Float16DType, np.dtypes.Float32DType,
                 np.dtypes.Float64DType, np.dtypes.Int8DType,
                 np.dtypes.Int16DType, np.dtypes.Int32DType,
                 np.dtypes.Int64DType, np.dtypes.UInt8DType,
                 np.dtypes.UInt16DType, np.dtypes.UInt32DType,
                 np.dtypes.UInt64DType, np.dtypes.BoolDType)
SAFE_GLOBALS: List[Any] = [
    HistoryBuffer,
    np.core.multiarray.scalar,
    np.core.multiarray._reconstruct,
    np.ndarray,
    np.dtype,
    *_NUMPY_DTYPES,
]


def _reduce_history_buffer(buffer: HistoryBuffer):
    """Pickle a HistoryBuffer without its ``statistics_methods``.

    mmengine's own pickling stores the class-level table of statistics
    functions with every buffer, as ``getattr(HistoryBuffer, 'min')``
    calls; ``builtins.getattr`` cannot be allowlisted (it reaches any
    attribute, and from there any code). The table is class state that
    ``HistoryBuffer.__setstate__`` restores (defaults, plus whatever code
    registered), so nothing is lost.
    """
    state = {k: v for k, v in buffer.__dict__.items()
             if k != 'statistics_methods'}
    return copyreg.__newobj__, (HistoryBuffer, ), state


def allow_checkpoint_globals() -> None:
    """Add :data:`SAFE_GLOBALS` to torch's ``weights_only`` allowlist and
    let checkpoints written from now on hold HistoryBuffers in a form that
    needs nothing else (``copyreg``: pickle's own registry of reducers)."""
    torch.serialization.add_safe_globals(SAFE_GLOBALS)
    copyreg.pickle(HistoryBuffer, _reduce_history_buffer)


def _strip(path: str) -> str:
    return path[len(TRUSTED_PREFIX):] if path.startswith(
        TRUSTED_PREFIX) else path


def unsafe_globals(path: str) -> List[str]:
    """The globals of a checkpoint file that ``weights_only`` loading would
    refuse (the file is scanned, nothing in it runs)."""
    return torch.serialization.get_unsafe_globals_in_checkpoint(path)


def check_checkpoint(path: str, trust: bool = False) -> None:
    """Fail before anything is built when ``path`` is missing or holds
    globals outside the allowlist.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: naming the refused globals and how to trust the file.
    """
    local = osp.expanduser(_strip(path))
    if '://' in local:
        return  # a remote scheme: mmengine downloads it, torch checks it
    if not osp.isfile(local):
        raise FileNotFoundError(f'checkpoint {local} does not exist')
    if trust or path.startswith(TRUSTED_PREFIX):
        return
    refused = unsafe_globals(local)
    if refused:
        raise ValueError(
            f'checkpoint {local} holds globals that weights_only loading '
            f'refuses: {", ".join(refused)}. Unpickling them could run code '
            'from the file. Load it only if you made it yourself or trust '
            'its source: --trust-checkpoint (mmact tools) or the path '
            f'prefixed with {TRUSTED_PREFIX} (load_from, resume)')


def load_checkpoint_file(path: str, map_location: Any = 'cpu',
                         trust: bool = False) -> Dict[str, Any]:
    """``torch.load`` with ``weights_only=True`` unless the file is trusted
    explicitly (``trust`` or a ``trusted://`` path), after
    :func:`check_checkpoint`."""
    check_checkpoint(path, trust)
    trusted = trust or path.startswith(TRUSTED_PREFIX)
    return torch.load(osp.expanduser(_strip(path)),
                      map_location=map_location, weights_only=not trusted)


@CheckpointLoader.register_scheme(prefixes=TRUSTED_PREFIX)
def load_from_trusted(filename: str, map_location: Any) -> Dict[str, Any]:
    """mmengine loader for ``trusted://PATH``: unpickles PATH without the
    ``weights_only`` check (the user vouches for the file)."""
    return load_checkpoint_file(filename, map_location)


def trusted(path: Optional[str]) -> Optional[str]:
    """``path`` as a ``trusted://`` path (``None`` stays ``None``)."""
    if path is None or path.startswith(TRUSTED_PREFIX):
        return path
    return TRUSTED_PREFIX + path


def checked(path: str, trust: bool = False) -> str:
    """``path`` after :func:`check_checkpoint`, as a ``trusted://`` path
    when ``trust``: what to hand to mmengine's loaders."""
    check_checkpoint(path, trust)
    return trusted(path) if trust else path


def mismatched_keys(model_keys: Sequence[str], checkpoint_keys: Sequence[str]
                    ) -> Dict[str, List[str]]:
    """Missing and unexpected state-dict keys, after mmengine's default
    ``^module.`` key revision of the checkpoint."""
    ckpt = {re.sub(r'^module\.', '', k) for k in checkpoint_keys}
    model = set(model_keys)
    return dict(missing=sorted(model - ckpt), unexpected=sorted(ckpt - model))


def _listed(keys: List[str], limit: int = 8) -> str:
    shown = ', '.join(keys[:limit])
    return shown + (f', ... ({len(keys)} in all)' if len(keys) > limit
                    else '')


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Refuse to run with a checkpoint whose state dict does not fit the
    model (``tools/test.py`` adds it): mmengine loads non-strictly and would
    otherwise evaluate randomly initialised weights for every missing key,
    learned activation parameters included.

    It checks in ``after_load_checkpoint``, which mmengine calls with the
    loaded checkpoint before copying it into the model.
    """
    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model
        if is_model_wrapper(model) or isinstance(model, BaseTTAModel):
            model = model.module
        state = checkpoint.get('state_dict', checkpoint)
        keys = mismatched_keys(list(model.state_dict()), list(state))
        if keys['missing']:
            raise RuntimeError(
                f'the checkpoint does not fit {type(model).__name__}: '
                f'{len(keys["missing"])} of its state-dict keys are missing '
                f'({_listed(keys["missing"])}); unexpected keys in the '
                f'checkpoint: {_listed(keys["unexpected"]) or "none"}. Is it '
                "this config's checkpoint?")
        if keys['unexpected']:
            runner.logger.warning('checkpoint keys the model does not have: '
                                  + _listed(keys['unexpected']))


allow_checkpoint_globals()

__all__ = ['SAFE_GLOBALS', 'TRUSTED_PREFIX', 'TRUST_HELP', 'allow_checkpoint_globals',
           'check_checkpoint', 'checked', 'load_checkpoint_file', 'trusted',
           'mismatched_keys', 'CheckpointFitHook', 'unsafe_globals']

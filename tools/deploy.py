"""Export a trained model to ONNX and check ONNX Runtime against PyTorch.

    python tools/deploy.py CONFIG CHECKPOINT [--out DIR] [--images N]
        [--static] [--exporter export|script] [--preset cpu]
        [--data-root DIR] [--cfg-options ...] [--trust-checkpoint]

The network (``model(inputs, mode='tensor')``: segmentation logits,
detection head maps, classification scores) is exported in standard ONNX
operators, with dynamic batch and image size unless ``--static``; the
checkpoint loads as in ``tools/test.py``. DiTAC tables become constants of
the graph. The first N images of the config's test set (through its own
pipeline and data preprocessor; with dynamic shapes also a batch of two
padded by 32 pixels) then run in PyTorch and in ONNX Runtime:
``report.md`` gives the largest output difference per input and, for
segmentation, the share of pixels whose label agrees.
"""
import argparse
import os
import os.path as osp
from typing import List

import numpy as np
import torch
import torch.nn as nn
from mmengine.runner import Runner

from mmact.openmmlab.export import TensorForward, export_onnx
from mmact.openmmlab.launch import (add_common_args, check_config,
                                    checkpoint_config)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', help='folder for model.onnx and report.md '
                        '(default: WORK_DIR/deploy)')
    parser.add_argument('--images', type=int, default=4,
                        help='test images compared (default 4)')
    parser.add_argument('--static', action='store_true',
                        help='fixed input shape (default: dynamic batch, '
                        'height and width)')
    parser.add_argument('--exporter', choices=['export', 'script'],
                        default='export',
                        help="torch.onnx's exporter: 'export' (torch.export"
                        " based, the default) or 'script' (TorchScript)")
    add_common_args(parser)
    return parser.parse_args()


def build(args: argparse.Namespace) -> Runner:
    cfg = checkpoint_config(args)
    check_config(cfg)
    runner = Runner.from_cfg(cfg)
    # As Runner.test() up to its first batch: the hooks see the run start
    # and the checkpoint load (CheckpointFitHook refuses one that does not
    # fit), and the test epoch start (EMAHook swaps the averaged weights in:
    # those are the ones evaluated).
    runner.test_loop  # noqa: B018  (builds the loop and its dataloader)
    runner.call_hook('before_run')
    runner.load_or_resume()
    runner.call_hook('before_test')
    runner.call_hook('before_test_epoch')
    runner.model.eval()
    return runner


def test_inputs(runner: Runner, count: int) -> List[torch.Tensor]:
    """Preprocessed test images, one per batch."""
    inputs = []
    for batch in runner.test_dataloader:
        data = runner.model.data_preprocessor(batch, False)
        for image in data['inputs']:
            inputs.append(image[None])
            if len(inputs) == count:
                return inputs
    if not inputs:
        raise SystemExit('the test set is empty')
    return inputs


def compare(model: nn.Module, path: str, inputs: List[torch.Tensor],
            segmentation: bool) -> List[dict]:
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    rows = []
    for image in inputs:
        with torch.no_grad():
            expected = [t.numpy() for t in model(image)]
        got = session.run(None, {name: image.numpy()})
        if [g.shape for g in got] != [e.shape for e in expected]:
            raise SystemExit('ONNX Runtime output shapes '
                             f'{[g.shape for g in got]} differ from '
                             f'PyTorch {[e.shape for e in expected]}')
        row = dict(shape='x'.join(map(str, image.shape)),
                   max_abs=max(float(np.abs(g - e).max())
                               for g, e in zip(got, expected)),
                   scale=max(float(np.abs(e).max()) for e in expected))
        if segmentation:
            row['labels_equal'] = float(
                (got[0].argmax(1) == expected[0].argmax(1)).mean())
        rows.append(row)
    return rows


def main() -> None:
    args = parse_args()
    runner = build(args)
    out = args.out or osp.join(runner.work_dir, 'deploy')
    os.makedirs(out, exist_ok=True)
    model = TensorForward(runner.model).eval()
    inputs = test_inputs(runner, args.images)
    path = osp.join(out, 'model.onnx')
    try:
        export_onnx(model, inputs[0], path, args.exporter, not args.static)
    except ValueError as error:
        raise SystemExit(f"{args.config}: {error}") from None
    if args.static:
        inputs = [i for i in inputs if i.shape == inputs[0].shape]
    else:  # another batch size and image size through the same graph
        inputs.append(torch.nn.functional.pad(
            torch.cat([inputs[0]] * 2), (0, 32, 0, 32)))
    segmentation = runner.cfg.get('default_scope') == 'mmseg'
    rows = compare(model, path, inputs, segmentation)
    head = '| input | shape | max abs diff | max abs output |'
    if segmentation:
        head += ' labels equal |'
    lines = [f'{path}: {args.exporter} exporter, '
             f'{"static" if args.static else "dynamic"} shapes', '', head,
             '|---' * (head.count('|') - 1) + '|']
    for i, row in enumerate(rows):
        line = (f'| {i} | {row["shape"]} | {row["max_abs"]:.3g} | '
                f'{row["scale"]:.3g} |')
        if segmentation:
            line += f' {100 * row["labels_equal"]:.2f} % |'
        lines.append(line)
    text = '\n'.join(lines) + '\n'
    with open(osp.join(out, 'report.md'), 'w') as f:
        f.write(text)
    print(text)


if __name__ == '__main__':
    main()

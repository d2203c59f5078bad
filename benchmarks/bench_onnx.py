"""ONNX Runtime inference: DiTAC vs GELU in UperNet + ConvNeXt-T.

Builds the UperNet + ConvNeXt-T model of the ADE20K configs once per
activation (``backbone.act_cfg``, every ConvNeXt block; no pretrained
weights; DiTAC's θ drawn from its prior, as a trained model's moves),
exports each to ONNX (static shape, torch's default exporter:
DiTAC's tables become constants) and times batch-1 inference of the same
image in ONNX Runtime and in PyTorch eager, the models taking turns run by
run. Writes ``onnx_<device>.{csv,md}`` with medians and ratios.

    python benchmarks/bench_onnx.py --sizes 512 128 --runs 10
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from bench_train_step import CONFIG, build
from results_io import write_csv

from mmact.openmmlab.export import TensorForward, export_onnx

RESULTS = Path(__file__).resolve().parent / 'results'


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def main() -> None:
    import onnxruntime as ort
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--acts', nargs='+', default=['GELU', 'DiTAC'])
    parser.add_argument('--sizes', type=int, nargs='+', default=[512, 128])
    parser.add_argument('--runs', type=int, default=10)
    parser.add_argument('--out', default=str(RESULTS))
    args = parser.parse_args()
    threads = torch.get_num_threads()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            torch.manual_seed(0)
            image = torch.randn(1, 3, size, size)
            runs = {}
            for act in args.acts:
                cfg = dict(type=act)
                if 'DiTAC' in act:
                    cfg['init'] = 'prior'
                model = TensorForward(build(str(CONFIG), cfg, 'cpu')).eval()
                path = f'{tmp}/{act}_{size}.onnx'
                export_onnx(model, image, path, dynamic=False)
                session = ort.InferenceSession(
                    path, options, providers=['CPUExecutionProvider'])
                feed = {session.get_inputs()[0].name: image.numpy()}

                def eager(model=model):
                    with torch.no_grad():
                        model(image)
                runs[act] = (lambda s=session, f=feed: s.run(None, f),
                             eager, [], [])
                for fn in runs[act][:2]:
                    fn()  # warm-up
            for _ in range(args.runs):  # round robin: noise hits all alike
                for ort_run, eager, ort_ms, eager_ms in runs.values():
                    ort_ms.append(timed(ort_run))
                    eager_ms.append(timed(eager))
            base = statistics.median(runs[args.acts[0]][2])
            for act, (_, _, ort_ms, eager_ms) in runs.items():
                o, e = statistics.median(ort_ms), statistics.median(eager_ms)
                rows.append(dict(size=size, activation=act, ort_ms=round(o, 2),
                                 eager_ms=round(e, 2),
                                 ort_vs_first=round(o / base, 3),
                                 eager_vs_ort=round(e / o, 3)))
                print(rows[-1], flush=True)
    out = Path(args.out)
    write_csv(rows, out / 'onnx_cpu.csv')
    first = args.acts[0]
    lines = [f'UperNet + ConvNeXt-T inference, batch 1, CPU, {threads} '
             f'threads, ONNX Runtime {ort.__version__} vs PyTorch '
             f'{torch.__version__} eager; medians of {args.runs} runs; '
             'DiTAC θ from its prior', '',
             f'| size | activation | ORT ms | vs {first} (ORT) | eager ms | '
             'eager / ORT |', '|---|---|---|---|---|---|']
    lines += [f'| {r["size"]} | {r["activation"]} | {r["ort_ms"]} | '
              f'{r["ort_vs_first"]} | {r["eager_ms"]} | {r["eager_vs_ort"]} |'
              for r in rows]
    (out / 'onnx_cpu.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()

"""Corruption-robustness reports in the ImageNet-C / LayerAct style.

From a model's score (accuracy, mIoU, box AP) on clean data and under each
corruption and severity: the mean per corruption and per group and, next
to a baseline model evaluated the same way, the corruption error of
Hendrycks & Dietterich (2019) with the baseline in AlexNet's place::

    E          = top - score            (the error rate for accuracy)
    CE_c       = sum_s E_c,s / sum_s E^base_c,s
    rel. CE_c  = sum_s (E_c,s - E_clean) / sum_s (E^base_c,s - E^base_clean)
    mCE        = mean over corruptions of CE_c (likewise relative mCE)

in percent: below 100 the model degrades less than the baseline.
"""
import csv
import math
import os
import os.path as osp
import statistics
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Sequence, Tuple

from .visualization import pyplot

# corruption -> severity -> score
Scores = Dict[str, Dict[int, float]]


@dataclass
class Evaluation:
    """One model's scores.

    Args:
        clean: The score on uncorrupted data.
        scores: The score per corruption and severity.
    """
    clean: float
    scores: Scores

    def mean(self, corruption: str) -> float:
        return statistics.mean(self.scores[corruption].values())


def _ratio(num: float, den: float) -> float:
    return 100.0 * num / den if den > 0 else math.nan


def corruption_errors(model: Evaluation, baseline: Evaluation,
                      top: float = 100.0) -> Dict[str, Tuple[float, float]]:
    """Corruption -> (CE, relative CE) in percent of the baseline's; NaN
    where the baseline's error (increase) is 0.

    Args:
        model: The evaluated model.
        baseline: The reference, evaluated on the same corruptions and
            severities.
        top: The best score (100 for accuracy and mIoU in percent, 1 for
            COCO AP).
    """
    missing = {c: sorted(set(s) - set(baseline.scores.get(c, {})))
               for c, s in model.scores.items()}
    missing = {c: s for c, s in missing.items() if s}
    if missing:
        raise ValueError(f'the baseline lacks scores for {missing}')
    errors = {}
    for name, by_severity in model.scores.items():
        severities = list(by_severity)
        err = [top - by_severity[s] for s in severities]
        base = [top - baseline.scores[name][s] for s in severities]
        errors[name] = (
            _ratio(sum(err), sum(base)),
            _ratio(sum(e - (top - model.clean) for e in err),
                   sum(b - (top - baseline.clean) for b in base)))
    return errors


def _mean(values) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.mean(values) if values else math.nan


def _fmt(value: float) -> str:
    return 'n/a' if math.isnan(value) else f'{value:.2f}'


def write_report(out: str,
                 metric: str,
                 model: Evaluation,
                 groups: Mapping[str, Sequence[str]],
                 baseline: Optional[Evaluation] = None,
                 top: float = 100.0) -> str:
    """Write ``report.csv``, ``report.md`` and ``report.png`` to ``out``;
    return the Markdown.

    Args:
        out: The report folder.
        metric: The score's name (for the captions).
        model: The evaluated model's scores.
        groups: Group name -> its corruptions (those evaluated are shown).
        baseline: The reference model's scores on the same corruptions:
            adds its means, CE and relative CE per corruption, mCE.
        top: The best score, see :func:`corruption_errors`.
    """
    os.makedirs(out, exist_ok=True)
    names = list(model.scores)
    severities = sorted({s for v in model.scores.values() for s in v})
    ce = corruption_errors(model, baseline, top) if baseline else {}
    base_cols = ['baseline_mean', 'CE', 'relative_CE'] if baseline else []
    with open(osp.join(out, 'report.csv'), 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['corruption', *severities, 'mean', *base_cols])
        extra = [baseline.clean, '', ''] if baseline else []
        writer.writerow(['clean', *[model.clean] * len(severities),
                         model.clean, *extra])
        for name in names:
            extra = [baseline.mean(name), *ce[name]] if baseline else []
            writer.writerow([name, *[model.scores[name][s]
                                     for s in severities],
                             model.mean(name), *extra])

    head = f'{metric} clean: {model.clean:.2f}'
    if baseline:
        head += f' (baseline {baseline.clean:.2f})'
    lines = [head, '',
             '| corruption | ' + ' | '.join(f's{s}' for s in severities) +
             ' | mean |' + ''.join(f' {c} |' for c in base_cols),
             '|---' * (len(severities) + 2 + len(base_cols)) + '|']
    for name in names:
        row = [f'{model.scores[name][s]:.2f}' for s in severities]
        row.append(f'{model.mean(name):.2f}')
        if baseline:
            row += [f'{baseline.mean(name):.2f}', *map(_fmt, ce[name])]
        lines.append(f'| {name} | ' + ' | '.join(row) + ' |')
    cols = ' mCE | relative mCE |' if baseline else ''
    lines += ['', f'| group | mean | corruptions |{cols}',
              '|---' * (3 + 2 * bool(baseline)) + '|']
    for group, members in [*groups.items(), ('all', names)]:
        present = [m for m in members if m in model.scores]
        if not present:
            continue
        row = [f'{statistics.mean(model.mean(m) for m in present):.2f}',
               str(len(present))]
        if baseline:
            row += [_fmt(_mean(ce[m][0] for m in present)),
                    _fmt(_mean(ce[m][1] for m in present))]
        lines.append(f'| {group} | ' + ' | '.join(row) + ' |')
    text = '\n'.join(lines) + '\n'
    with open(osp.join(out, 'report.md'), 'w') as f:
        f.write(text)
    _plot(osp.join(out, 'report.png'), metric, model, baseline, ce)
    return text


def _plot(path: str, metric: str, model: Evaluation,
          baseline: Optional[Evaluation], ce) -> None:
    plt = pyplot()
    names = list(model.scores)
    fig, ax = plt.subplots(figsize=(max(7.0, 0.6 * len(names) + 2), 4))
    width = 0.4 if baseline else 0.8
    xs = range(len(names))
    ax.bar([x - width / 2 * bool(baseline) for x in xs],
           [model.mean(n) for n in names], width, label='model')
    ax.axhline(model.clean, color='C0', ls='--', lw=1, label='model, clean')
    title = f'{metric} under corruption (mean over severities)'
    if baseline:
        ax.bar([x + width / 2 for x in xs],
               [baseline.mean(n) for n in names], width, label='baseline')
        ax.axhline(baseline.clean, color='C1', ls='--', lw=1,
                   label='baseline, clean')
        title += f'; mCE {_fmt(_mean(e[0] for e in ce.values()))}'
    ax.set_xticks(list(xs), names, rotation=45, ha='right')
    ax.set_ylabel(metric)
    ax.set_title(title, fontsize='medium')
    ax.legend(fontsize='small', loc='upper left', bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

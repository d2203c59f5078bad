"""What a swap replaced, as records and as the log summary."""
from collections import Counter
from dataclasses import dataclass
from typing import Sequence, Tuple


@dataclass
class Replacement:
    """One replaced activation module or functional call site.

    Args:
        path: Where the new activation lives in the model.
        old: The replaced module type or function spelling.
        new: The new activation type.
        count: Activations created (one per replaced call of a reused
            module); 0 for a module left in place because its owner never
            calls it.
        inplace: A functional call site that writes into its input.
        unused: Arguments of the replaced call that the new activation does
            not use, as ``name=value``.
    """
    path: str
    old: str
    new: str
    count: int = 1
    inplace: bool = False
    unused: Tuple[str, ...] = ()


def summarize(replaced: Sequence[Replacement]) -> str:
    """Counts per (old → new) type and per top-level part of the model."""
    if not replaced:
        return 'ActivationSwap: nothing matched the rules'
    kinds, parts = Counter(), Counter()
    unused = [r.path for r in replaced if r.count == 0]
    replaced = [r for r in replaced if r.count > 0]
    for r in replaced:
        kinds[f'{r.old} -> {r.new}'] += r.count
        parts['.'.join(r.path.split('.')[:2])] += r.count
    lines = [f'ActivationSwap: {sum(kinds.values())} activations replaced']
    lines += [f'  {kind}: {n}' for kind, n in sorted(kinds.items())]
    lines.append('  where: ' + ', '.join(f'{p} {n}'
                                         for p, n in sorted(parts.items())))
    split = Counter(r.count for r in replaced
                    if r.count > 1 and '.' not in r.old)
    if split:
        examples = [r.path for r in replaced if r.count > 1][:3]
        lines.append('  reused modules split into one activation per call: ' +
                     ', '.join(f'{n} x {c} calls' for c, n in split.items()) +
                     f' (e.g. {", ".join(examples)})')
    inplace = [r.path for r in replaced if r.inplace]
    if inplace:
        lines.append('  in-place calls (result written into the input): ' +
                     ', '.join(inplace))
    for r in replaced:
        if r.unused:
            lines.append(f'  {r.path}: {r.old} arguments not used by '
                         f'{r.new}: {", ".join(r.unused)}')
    if unused:
        lines.append('  left in place, never called by their owner: ' +
                     ', '.join(unused))
    return '\n'.join(lines)


__all__ = ['Replacement', 'summarize']

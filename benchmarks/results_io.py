"""Result files the benchmarks share: rows of dicts as CSV, tables as
Markdown."""
import csv
from pathlib import Path
from typing import Dict, List, Optional


def write_csv(rows: List[Dict], path: Path,
              fieldnames: Optional[List[str]] = None) -> None:
    """Rows as CSV (header: ``fieldnames``, default the first row's keys),
    creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames or list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_markdown(lines: List[str], path: Path) -> None:
    """Lines as a Markdown file, echoed to stdout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))

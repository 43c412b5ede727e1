"""Measure the model card's figures again and rewrite them.

Runs ``benchmarks/accuracy.py`` (registered models, no flip variants) on each dataset of
:data:`brandmood.services.model_card.DATASETS` in ``--eval`` (default ``../shared/eval``)
and writes the per-model aggregates the Responsible use page shows to ``--out`` (default
the card's own file). The evaluation images and the benchmark's full output stay out of
the repository; only accuracy, macro-F1, ECE, uncertain share and recall per class are kept.

    python -m benchmarks.model_card [--eval DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks import accuracy
from brandmood.services.model_card import DATASETS, FIGURES_FILE, figures_from_benchmark

REPO = Path(__file__).resolve().parents[1]


def measure(eval_dir: Path) -> dict:
    """Dataset → the card's figures, measured now on ``eval_dir``'s datasets.

    Raises:
        FileNotFoundError: a dataset's folder is missing.
        RuntimeError: the accuracy benchmark failed on a dataset.
    """
    figures = {}
    with tempfile.TemporaryDirectory(prefix="brandmood-card-") as tmp:
        for dataset, (folder, crops) in DATASETS.items():
            data = eval_dir / folder
            if not data.is_dir():
                raise FileNotFoundError(f"{data} not found (the labeled evaluation images)")
            out = Path(tmp) / f"{folder}.json"
            argv = ["--data", str(data), "--json", str(out), "--no-extras", "--no-tta",
                    *(["--crops"] if crops else [])]
            if accuracy.main(argv) != 0 or not out.exists():
                raise RuntimeError(f"the accuracy benchmark failed on {data}")
            figures[dataset] = figures_from_benchmark(json.loads(out.read_text()))
    return figures


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--eval", type=Path, default=REPO.parent / "shared" / "eval")
    parser.add_argument("--out", type=Path, default=FIGURES_FILE)
    args = parser.parse_args(argv)
    figures = measure(args.eval)
    args.out.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`lstm evaluate`: its argument parser and runner, and the figures it and `lstm train` print."""

from __future__ import annotations

import json
from pathlib import Path

from lstm.music.cli import resolve_model

from .seed import SEED


def add_evaluate(sub):
    p = sub.add_parser("evaluate", help="recompute metrics.json of a trained run, or score a registered model",
                       description="Accuracies on every split, baselines and the G/D error analysis. A run "
                                   "directory gets them in its metrics.json (what only training knows stays); "
                                   "a model.pt or models:/NAME@ALIAS writes them into --out.")
    p.add_argument("--model", required=True, metavar="RUN_DIR|model.pt|models:/NAME@ALIAS",
                   help="a run directory, a model.pt, or a registered model URI (needs the flows extra and "
                        "$MLFLOW_TRACKING_URI), as for `lstm generate`")
    p.add_argument("--data", type=Path, required=True, help="a directory written by `lstm prepare`")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="where metrics.json and gd_histogram.{json,html} go (default: the run directory; "
                        "required for a model.pt or a models:/ URI)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto: cuda when there is one (default %(default)s)")
    p.add_argument("--music", action="store_true",
                   help="also sample pieces after test prompts and print music metrics (lstm.music.metrics; "
                        "default: off)")


def print_metrics(m: dict) -> None:
    b = m["baselines"]
    print(f"accuracy  train {m['train_accuracy']:.2%}  val {m['val_accuracy']:.2%}  test {m['test_accuracy']:.2%}"
          f"  (test top-5 {m['test_top5_accuracy']:.2%}, perplexity {m['test_perplexity']:.1f})")
    print(f"baselines on test: most frequent {b['most_frequent']:.2%}  bigram {b['bigram']:.2%}  "
          f"trigram {b['trigram']:.2%}   seed report: {SEED.test_accuracy:.2%}")
    e = m["error_analysis"]
    print(f"predicted G {e['predicted_share_G']:.1%} D {e['predicted_share_D']:.1%} "
          f"(true G {e['true_share_G']:.1%} D {e['true_share_D']:.1%})")


def cmd_evaluate(args) -> None:
    import tempfile

    from .evaluate import evaluate_run
    from .train import pick_device

    device = str(pick_device(args.device))
    with tempfile.TemporaryDirectory() as tmp:
        model = resolve_model(args.model, tmp)
        out = args.out or (model if model.is_dir() else None)
        if out is None:
            raise ValueError(f"give --out DIR for {args.model}: only a run directory holds its own metrics.json")
        out.mkdir(parents=True, exist_ok=True)
        m = evaluate_run(model, args.data, device, out=out)
        prev = out / "metrics.json"
        if prev.is_file():  # what only training knows stays: history, best_epoch, phase times, ...
            m = {**json.loads(prev.read_text()), **m}
        prev.write_text(json.dumps(m, indent=2))
        print_metrics(m)
        if args.music:
            from lstm.music.generate import print_music

            print_music(model, args.data, device)
    print(f"wrote {prev}")

"""`lstm`: the command line face of the library (prepare, train, evaluate)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lstm.bench.run import add_parser as add_bench
from lstm.bench.run import run as cmd_bench
from lstm.data.folder import DEFAULT_RATIOS, DEFAULT_SEED
from lstm.data.maestro import DatasetError
from lstm.data.targets import CONTEXT
from lstm.data.tokens import PARTS, READERS
from lstm.evaluate_cli import add_evaluate, cmd_evaluate, print_metrics
from lstm.music.cli import add_generate, cmd_generate

from .seed import SEED


def _add_prepare(sub):
    p = sub.add_parser("prepare", help="tokenize MAESTRO, a folder of MIDI files or the embedded default into arrays",
                       description="Tokenize MIDI files into the seed's (music21's) tokens, build the train "
                                   "vocabulary and write token arrays plus manifest.json into OUT.")
    p.add_argument("--data-dir", type=Path,
                   help="a MAESTRO v2.0.0/v3.0.0 directory (its split as published) or any folder of MIDI files "
                        "(.mid/.midi, searched recursively; split by --split-ratios); default: the embedded dataset")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--workers", type=int, default=None, help="parallel processes (default: all cores)")
    p.add_argument("--seq-len", type=int, default=100, help="window length, for the window counts (default 100)")
    p.add_argument("--max-duration", type=float, default=None,
                   help="keep pieces shorter than this many seconds (the seed used 1000; default: all)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="per-file token cache (default $MAESTRO_LSTM_CACHE or ~/.cache/maestro-lstm)")
    p.add_argument("--reader", choices=READERS, default="auto",
                   help="auto: the fast reader, music21 for the files it declines (same tokens); music21: "
                        "music21 only, 30-80x slower (cached files are not read again: use a fresh --cache-dir; "
                        "default %(default)s)")
    p.add_argument("--part", choices=PARTS, default="first",
                   help="which instrument part of a file is read: first, as the seed did (a file whose first part "
                        "is empty is skipped with that reason), or first-with-notes (default first)")
    p.add_argument("--split-ratios", type=float, nargs=3, default=list(DEFAULT_RATIOS), metavar=("TRAIN", "VAL", "TEST"),
                   help="a plain folder's train/validation/test shares, by a hash of each file's path (default "
                        "0.8 0.1 0.1; a file keeps its split when others are added)")
    p.add_argument("--split-seed", type=int, default=DEFAULT_SEED, help="seeds that hash (default 0)")


def _add_train(sub):
    from .train import TrainConfig

    defaults = TrainConfig()
    p = sub.add_parser("train", help="train a model on prepared data",
                       description="Train the seed model or the embedding LSTM; writes RUN/model.pt, "
                                   "RUN/metrics.json and a checkpoint every epoch.")
    p.add_argument("--data", type=Path, required=True, help="a directory written by `lstm prepare`")
    p.add_argument("--out", type=Path, required=True, help="run directory")
    p.add_argument("--model", choices=["seed", "embed"], default=defaults.model,
                   help="seed: the report's network; embed: a token embedding and LSTM layers (default %(default)s)")
    p.add_argument("--hidden-size", type=int, nargs="+", dest="hidden_sizes", default=None,
                   help=f"one size per layer, or one size for all --num-layers (default: {SEED.hidden_size} for seed, "
                        f"{defaults.hidden_sizes[0]} for embed)")
    p.add_argument("--num-layers", type=int, default=None,
                   help=f"LSTM layers of the embed model (default: as many as --hidden-size has sizes; seed: "
                        f"{SEED.num_layers})")
    p.add_argument("--embed-dim", type=int, default=defaults.embed_dim,
                   help="token embedding size of embed (default %(default)s)")
    p.add_argument("--dropout", type=float, default=None,
                   help=f"default: {SEED.dropout} for seed, {defaults.dropout} for embed")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size, help="windows a step (default %(default)s)")
    p.add_argument("--epochs", type=int, default=defaults.epochs, help="at most this many epochs (default %(default)s)")
    p.add_argument("--lr", type=float, default=None, help=f"default: {SEED.lr} for sgd, {defaults.lr} for adamw")
    p.add_argument("--optimizer", choices=["sgd", "adamw"], default=None, help="default: sgd for seed, adamw for embed")
    p.add_argument("--seq-len", type=int, default=defaults.seq_len,
                   help="tokens a training window feeds the model; it is scored on the same targets whatever "
                        "this is (default %(default)s)")
    p.add_argument("--windows-per-epoch", type=int, default=0,
                   help="windows drawn per epoch (0: one pass over the training tokens, i.e. tokens / seq_len "
                        "windows for embed and every window for seed; default 0)")
    p.add_argument("--eval-windows", type=int, default=defaults.eval_windows,
                   help="validation targets scored after each epoch, evenly spaced, the same every epoch (0: all; "
                        "default %(default)s); the kept model's final figures use all")
    p.add_argument("--patience", type=int, default=defaults.patience,
                   help="stop after this many epochs without a better validation accuracy (0: never; "
                        f"default {defaults.patience}); the run keeps its best epoch either way")
    p.add_argument("--seed", type=int, default=0, help="random seed: weights, batches, dropout (default %(default)s)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto: cuda when there is one (default %(default)s)")
    p.add_argument("--resume", action="store_true", help="continue from RUN/checkpoint.pt (default: start afresh)")


def config_from_args(args) -> dict:
    """The flags → TrainConfig's keyword arguments. The model's part is lstm.models.model_config's (--model
    seed: the seed's sizes and dropout); the optimizer is the seed's SGD for --model seed, at its lr."""
    from .model_config import model_config
    from .train import TrainConfig

    sizes = args.hidden_sizes or []
    if len(sizes) > 1 and args.num_layers is not None and len(sizes) != args.num_layers:
        raise ValueError(f"--hidden-size has {len(sizes)} sizes but --num-layers is {args.num_layers}")
    model = model_config(args.model, hidden_sizes=args.hidden_sizes, num_layers=args.num_layers,
                         embed_dim=args.embed_dim, dropout=args.dropout)
    defaults = TrainConfig()
    optimizer = args.optimizer or (SEED.optimizer if args.model == "seed" else defaults.optimizer)
    lr = args.lr if args.lr is not None else SEED.lr if optimizer == "sgd" else defaults.lr
    return dict(**model.to_dict(), batch_size=args.batch_size, epochs=args.epochs, lr=lr, optimizer=optimizer,
                seq_len=args.seq_len, windows_per_epoch=args.windows_per_epoch, eval_windows=args.eval_windows,
                patience=args.patience, seed=args.seed)


def cmd_prepare(args) -> None:
    from lstm.data.corpus import build_embedded, default_cache_dir
    from lstm.data.prepare import prepare

    cache = args.cache_dir or default_cache_dir()
    data_dir = args.data_dir or build_embedded(cache, args.workers)
    m = prepare(data_dir, args.out, cache, args.workers, args.seq_len, args.max_duration, args.reader, args.part,
                tuple(args.split_ratios), args.split_seed)
    print(m.split["description"] + ("" if args.part == "first" else f"; part read: {args.part}"))
    for split, s in m.splits.items():
        short = f" ({s.files_without_targets} of {CONTEXT} tokens or fewer: none)" if s.files_without_targets else ""
        print(f"{split:>10}: {s.files:4d} files {s.tokens:9d} tokens {s.windows:9d} windows "
              f"{s.targets:9d} targets{short} unknown {s.unknown_rate:.2%}")
    print(f"targets (what every model is scored on): the tokens with at least {CONTEXT} tokens before them in "
          f"their file")
    print(f"vocabulary {m.vocab_size} tokens; parsed {m.parsed} files, cache hits {m.cache_hits}")
    readers = ", ".join(f"{n} {name}" for name, n in m.readers.items())
    print(f"read by: {readers}" + "".join(f"\n  music21 for {n}: {why}" for why, n in m.fast_declined.items()))
    for s in m.skipped:
        print(f"skipped {s['file']}: {s['reason']}")
    print(f"wrote {args.out}/manifest.json")


def cmd_train(args) -> None:
    from .train import TrainConfig, train

    cfg = TrainConfig(**config_from_args(args))

    def report(e):
        print(f"epoch {e['epoch']}: train_loss {e['train_loss']:.4f} val_loss {e['val_loss']:.4f} "
              f"val_accuracy {e['val_accuracy']:.2%} ({e['epoch_seconds']:.1f}s)", flush=True)

    m = train(args.data, args.out, cfg, args.device, on_epoch=report, resume=args.resume)
    stop = f", stopped early after {m['epochs_trained']}" if m["stopped_early"] else ""
    print(f"kept epoch {m['best_epoch']} (best validation accuracy{stop})")
    print_metrics(m)
    print(f"wrote {args.out}/model.pt and {args.out}/metrics.json")


# name → (adds its parser to the subparsers, runs it); a command may live in its own module.
COMMANDS = {
    "prepare": (_add_prepare, cmd_prepare),
    "train": (_add_train, cmd_train),
    "evaluate": (add_evaluate, cmd_evaluate),
    "generate": (add_generate, cmd_generate),
    "bench": (add_bench, cmd_bench),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lstm", description="Next-token LSTMs on MAESTRO piano MIDI.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command][1](args)
    except (DatasetError, ValueError, FileNotFoundError) as exc:
        print(f"lstm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


"""`lstm generate`: its argument parser and runner (light to import: torch and music21 load on run)."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

from .audio import DEFAULT_FORMAT, FORMATS

MODEL_SOURCES = "lstm.model_sources"


def resolve_model(spec: str, tmpdir: str | Path) -> Path:
    """RUN_DIR or a model.pt path as is; a URI such as `models:/NAME@ALIAS` fetched into tmpdir by the
    source registered for its scheme (entry point group `lstm.model_sources`: flows registers `models`,
    the MLflow registry), so the library itself never imports a tracking server's client."""
    scheme, sep, _ = spec.partition(":/")
    if sep and scheme.isidentifier():
        sources = {ep.name: ep for ep in entry_points(group=MODEL_SOURCES)}
        if scheme not in sources:
            raise ValueError(f"no model source for {scheme}:/ URIs (known: {', '.join(sorted(sources)) or 'none'})")
        try:
            fetch = sources[scheme].load()
        except ImportError as exc:
            raise ValueError(f"{scheme}:/ URIs need the flows extra (pip install 'maestro-lstm[flows]'): {exc}") from None
        try:
            return Path(fetch(spec, str(tmpdir)))
        except Exception as exc:  # the source's client's own errors (MLflow's), which lstm cannot name
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ValueError(f"cannot fetch {spec}: {first}") from None
    path = Path(spec)
    if not (path / "model.pt" if path.is_dir() else path).is_file():
        raise FileNotFoundError(f"no model at {spec} (expected RUN_DIR/model.pt, a model.pt or models:/NAME@ALIAS)")
    return path


def add_generate(sub) -> None:
    p = sub.add_parser(
        "generate", help="sample a piece from a trained model into MIDI (+ piano roll, audio)",
        description="Sample --length tokens after a prompt and write them (the continuation only) as MIDI, "
                    "with a piano roll OUT_pianoroll.html (and .png when kaleido is installed) and its audio (OUT.ogg: "
                    "--audio) when FluidSynth and a General MIDI soundfont exist (apt-get install fluidsynth "
                    "fluid-soundfont-gm, or $SOUNDFONT); one line says why when they do not. The prompt is the first "
                    "seq_len tokens of the first long-enough test file of --data, or of the --prompt MIDI "
                    "(which wins when both are given); without either, a registered model (models:/NAME@ALIAS) "
                    "starts from the primer it carries, in that primer's rhythm. The rhythm is drawn from "
                    "the prompt's MIDI file (for --data: the test file named in its manifest.json), else "
                    "from a default distribution. The unknown token is never generated.")
    p.add_argument("--model", required=True, metavar="RUN_DIR|model.pt|models:/NAME@ALIAS",
                   help="a run directory, a model.pt, or a registered model URI (needs the flows extra)")
    p.add_argument("--out", type=Path, required=True, metavar="MIDI", help="the MIDI file to write (e.g. piece.mid)")
    p.add_argument("--data", type=Path, metavar="PREPARED_DIR", help="a directory written by `lstm prepare`: prompt from its test split (default: none; "
                        "this, --prompt, or neither for a registered model)")
    p.add_argument("--prompt", type=Path, metavar="MIDI", help="a MIDI file whose start is the prompt (and gives the rhythm; default: none)")
    p.add_argument("--length", type=int, default=500, metavar="N", help="notes/chords (tokens) to generate (default 500)")
    p.add_argument("--temperature", type=float, default=1.0, metavar="T", help="softmax temperature; 0: argmax (default %(default)s)")
    p.add_argument("--top-k", type=int, default=None, metavar="K", help="sample among the K most likely tokens (default: all)")
    p.add_argument("--seed", type=int, default=None, metavar="S", help="random seed: fixes the piece (default: a fresh one, printed)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto: cuda when there is one (default %(default)s)")
    p.add_argument("--audio", choices=[*FORMATS, "none"], default=DEFAULT_FORMAT,
                   help=f"audio written beside the MIDI: ogg (Vorbis, 24 kHz, small), flac, wav or none "
                        f"(default {DEFAULT_FORMAT})")


def cmd_generate(args) -> None:
    import secrets
    import tempfile

    from lstm.checkpoint import load_model
    from lstm.data.vocab import UNKNOWN_ID
    from lstm.train import pick_device

    from .compose import is_composer, load_composer
    from .generate import check_sampling, generate_piece, midi_prompt, prompts_from_test

    check_sampling(args.length, args.temperature, args.top_k)
    dev = pick_device(args.device)
    rhythm = None
    with tempfile.TemporaryDirectory() as tmp:
        path = resolve_model(args.model, tmp)
        if args.data is None and args.prompt is None:
            if not is_composer(path):
                raise ValueError("give --data PREPARED_DIR (prompt: a test piece's start) or --prompt MIDI; "
                                 "only a registered model (models:/NAME@ALIAS) carries a primer of its own")
            composer = load_composer(path, dev)
            model, vocab, seq_len = composer.model, composer.vocab, composer.seq_len
            prompt, rhythm = composer.primer, composer.rhythm
        else:
            model, saved = load_model(path, dev)
            vocab, seq_len = saved["vocab"], saved["config"]["seq_len"]
    if args.prompt is not None:
        prompt = midi_prompt(args.prompt, vocab, seq_len)
    elif args.data is not None:
        prompt = prompts_from_test(args.data, vocab, seq_len, 1)[0]
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    piece = generate_piece(model, vocab, prompt, args.out, length=args.length, temperature=args.temperature,
                           top_k=args.top_k, seed=seed, seq_len=seq_len, rhythm=rhythm,
                           audio=None if args.audio == "none" else args.audio)
    unknown = sum(i == UNKNOWN_ID for i in prompt.ids)
    print(f"prompt: {len(prompt.ids)} tokens of {prompt.source}" + (f" ({unknown} unknown)" if unknown else ""))
    print(f"rhythm: {piece.rhythm.source}, {len(piece.rhythm.pairs)} (IOI, duration) pairs, "
          f"{piece.rhythm.tempo:g} beats a minute; seed {seed}")
    for path in piece.files:
        print(f"wrote {path}" + (f" ({len(piece.tokens)} notes/chords)" if path == Path(args.out) else ""))
    for msg in piece.messages:
        print(msg)

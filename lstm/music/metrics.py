"""Music-quality metrics of generated pieces against real music: pure functions on token strings.

Tokens are the seed's (`lstm.data.tokens`): a note is its pitch with octave (`E-4`), a chord the normal
order of its pitch classes joined by dots (`0.4.7`), `<unk>` the unknown token. A *piece* is one
sequence of tokens. Definitions, for one piece:

- **pitch-class histogram** (`pitch_class_histogram`): 12 weights, C..B. A note token counts once
  for its pitch class (`lstm.data.vocab.token_class`); a chord token counts once for *each* pitch class
  of its normal order (`0.4.7` adds 1 to C, 1 to E and 1 to G: a chord sounds all of them). Unknown
  tokens count nowhere. Normalised to sum 1 (all zeros when nothing counted).
- **pc_tvd(a, b)**: total variation distance of the two normalised histograms, 0.5 * sum |p - q|,
  in [0, 1]; 0 when neither has a pitch class, 1 when exactly one has none.
- **repeat_rate**: of the len - 1 adjacent pairs, the share whose two tokens are equal;
  ['C4', 'C4', 'D4', 'D4'] → 2/3. 0 for fewer than two tokens.
- **chord_share**: the share of tokens that are chords; ['C4', '0.4.7'] → 1/2.
- **distinct_ratio**: distinct tokens / tokens; ['C4', 'C4', 'D4', 'D4'] → 2/4. 0 when empty.
- **top-2 shares** (`top2_shares`): the two pitch classes most frequent among the generated *note*
  tokens (chords and unknowns excluded; ties broken in C..B order; fewer than two when fewer occur).
  `top2_share` is their count over all generated tokens, `top2_true_share` the count of the same two
  classes' note tokens over all reference tokens: the seed's G/D collapse check (`lstm.pitch_classes`), on
  sampled music instead of argmax predictions.

`music_metrics` pools several pieces into the flat dict of floats the study logs (names `music_*`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from lstm.data.vocab import PITCH_CLASS_NAMES, UNKNOWN, token_class

PC_INDEX = {name: i for i, name in enumerate(PITCH_CLASS_NAMES)}

METRIC_NAMES = (
    "music_pc_tvd", "music_repeat_rate", "music_chord_share", "music_distinct_ratio",
    "music_top2_share", "music_top2_true_share",
    "music_true_repeat_rate", "music_true_chord_share", "music_true_distinct_ratio",
)


def is_chord(token: str) -> bool:
    return token_class(token) == "chord"


def chord_pitch_classes(token: str) -> list[int]:
    """The pitch classes (0..11) of a chord token's normal order: `'0.4.7'` → [0, 4, 7]."""
    try:
        return [int(x) % 12 for x in token.split(".")]
    except ValueError:
        raise ValueError(f"not a chord token: {token!r}") from None


def pitch_class_counts(tokens: Sequence[str]) -> list[int]:
    """Unnormalised pitch-class histogram (C..B), counted as in the module docstring."""
    counts = [0] * 12
    for t in tokens:
        cls = token_class(t)
        if cls == "unknown":
            continue
        if cls == "chord":
            for pc in set(chord_pitch_classes(t)):
                counts[pc] += 1
        else:
            counts[PC_INDEX[cls]] += 1
    return counts


def _normalise(counts: Sequence[float]) -> list[float]:
    total = sum(counts)
    return [c / total for c in counts] if total else [0.0] * len(counts)


def pitch_class_histogram(tokens: Sequence[str]) -> list[float]:
    """Normalised pitch-class histogram (C..B) of a piece; all zeros when it has no pitch class."""
    return _normalise(pitch_class_counts(tokens))


def tvd(p: Sequence[float], q: Sequence[float]) -> float:
    """Total variation distance of two histograms (normalised here), with the empty cases of pc_tvd."""
    p, q = _normalise(p), _normalise(q)
    empty_p, empty_q = not any(p), not any(q)
    if empty_p or empty_q:
        return 0.0 if empty_p and empty_q else 1.0
    return 0.5 * sum(abs(a - b) for a, b in zip(p, q))


def pc_tvd(generated: Sequence[str], reference: Sequence[str]) -> float:
    """Total variation distance between the pitch-class histograms of two token sequences."""
    return tvd(pitch_class_counts(generated), pitch_class_counts(reference))


def _repeats(tokens: Sequence[str]) -> tuple[int, int]:
    """(adjacent equal pairs, adjacent pairs)."""
    pairs = max(len(tokens) - 1, 0)
    return sum(a == b for a, b in zip(tokens, tokens[1:])), pairs


def repeat_rate(tokens: Sequence[str]) -> float:
    """Share of the len - 1 adjacent pairs whose tokens are equal; 0 for fewer than two tokens."""
    rep, pairs = _repeats(tokens)
    return rep / pairs if pairs else 0.0


def chord_share(tokens: Sequence[str]) -> float:
    """Share of tokens that are chords; 0 when empty."""
    return sum(is_chord(t) for t in tokens) / len(tokens) if len(tokens) else 0.0


def distinct_ratio(tokens: Sequence[str]) -> float:
    """Distinct tokens / tokens; 0 when empty."""
    return len(set(tokens)) / len(tokens) if len(tokens) else 0.0


def top2_classes(tokens: Sequence[str]) -> list[str]:
    """The (at most) two most frequent pitch classes of the note tokens; ties in C..B order."""
    counts = Counter(token_class(t) for t in tokens if not is_chord(t) and t != UNKNOWN)
    ranked = sorted(counts, key=lambda c: (-counts[c], PC_INDEX[c]))
    return ranked[:2]


def top2_shares(generated: Sequence[str], reference: Sequence[str]) -> tuple[list[str], float, float]:
    """(the top-2 classes of `generated`, their share of generated tokens, their share of reference tokens)."""
    top = top2_classes(generated)

    def share(tokens):
        if not len(tokens):
            return 0.0
        return sum(token_class(t) in top for t in tokens if not is_chord(t) and t != UNKNOWN) / len(tokens)

    return top, share(generated), share(reference)


def _chunks(pieces: Sequence[Sequence[str]], size: int) -> list[Sequence[str]]:
    """Consecutive non-overlapping chunks of `size` tokens of every piece (the short tails dropped)."""
    return [p[i:i + size] for p in pieces for i in range(0, len(p) - size + 1, size)]


def music_metrics(generated: Sequence[Sequence[str]], reference: Sequence[Sequence[str]]) -> dict[str, float]:
    """Pooled metrics of generated pieces against reference pieces (e.g. the real test split).

    - music_pc_tvd: pc_tvd of all generated tokens against all reference tokens.
    - music_repeat_rate, music_chord_share: pooled over the pieces (pairs never span two pieces).
    - music_distinct_ratio: the mean over the generated pieces of their distinct_ratio.
    - music_top2_share, music_top2_true_share: top2_shares of all generated vs all reference tokens.
    - music_true_repeat_rate, music_true_chord_share: the same on the reference, for comparison.
    - music_true_distinct_ratio: the mean distinct_ratio of reference chunks as long as the mean
      generated piece (distinct_ratio falls with length, so whole files would not compare); the mean
      over whole reference pieces when none is that long.
    """
    gen_all = [t for p in generated for t in p]
    ref_all = [t for p in reference for t in p]

    def pooled_repeat(pieces):
        rep = pairs = 0
        for p in pieces:
            r, n = _repeats(p)
            rep, pairs = rep + r, pairs + n
        return rep / pairs if pairs else 0.0

    def mean(values):
        values = list(values)
        return sum(values) / len(values) if values else 0.0

    lengths = [len(p) for p in generated if len(p)]
    size = round(mean(lengths)) if lengths else 0
    ref_chunks = (_chunks(reference, size) if size else []) or [p for p in reference if len(p)]
    _, top2, top2_true = top2_shares(gen_all, ref_all)
    return {
        "music_pc_tvd": pc_tvd(gen_all, ref_all),
        "music_repeat_rate": pooled_repeat(generated),
        "music_chord_share": chord_share(gen_all),
        "music_distinct_ratio": mean(distinct_ratio(p) for p in generated if len(p)),
        "music_top2_share": top2,
        "music_top2_true_share": top2_true,
        "music_true_repeat_rate": pooled_repeat(reference),
        "music_true_chord_share": chord_share(ref_all),
        "music_true_distinct_ratio": mean(distinct_ratio(c) for c in ref_chunks),
    }


def format_music_metrics(m: dict[str, float]) -> str:
    """Two lines for the terminal: generated vs the real test split."""
    return (f"music (generated vs test): pitch-class TVD {m['music_pc_tvd']:.3f}  "
            f"repeat rate {m['music_repeat_rate']:.1%} (true {m['music_true_repeat_rate']:.1%})  "
            f"chords {m['music_chord_share']:.1%} (true {m['music_true_chord_share']:.1%})\n"
            f"music: distinct ratio {m['music_distinct_ratio']:.1%} (true {m['music_true_distinct_ratio']:.1%})  "
            f"top-2 pitch classes {m['music_top2_share']:.1%} of generated tokens, "
            f"{m['music_top2_true_share']:.1%} of true")

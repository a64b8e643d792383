"""What a token is: a note's pitch name, a chord's normal order, the unknown token; pitch classes.

A note is `str(pitch)` (`E-4`: octave kept); a chord is its normal order joined by dots (`0.4.7`:
octave and voicing lost), as the seed made them. A vocabulary lists the train split's tokens after
`<unk>`, whose id is 0: validation and test tokens outside it map there.
"""

from __future__ import annotations

UNKNOWN = "<unk>"
UNKNOWN_ID = 0  # the vocabulary's first entry


def note_token(pitch) -> str:
    return str(pitch)


def chord_token(normal_order) -> str:
    return ".".join(str(n) for n in normal_order)


_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
PITCH_CLASS_NAMES = ["C", "C#", "D", "E-", "E", "F", "F#", "G", "G#", "A", "B-", "B"]


def token_class(token: str) -> str:
    """The pitch class name of a note token, or `chord` / `unknown`."""
    if token == UNKNOWN:
        return "unknown"
    if not token or token[0] not in _PITCH_CLASS:
        return "chord"
    pc = _PITCH_CLASS[token[0]]
    for ch in token[1:]:
        if ch == "#":
            pc += 1
        elif ch == "-":
            pc -= 1
        elif ch == "~" or ch == "`":  # microtones: round to the letter
            continue
        else:
            break
    return PITCH_CLASS_NAMES[pc % 12]

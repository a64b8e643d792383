"""Music-quality metrics on hand-made token sequences with known values."""

from __future__ import annotations

import math

import pytest

from lstm.music.metrics import (
    METRIC_NAMES,
    chord_share,
    distinct_ratio,
    format_music_metrics,
    music_metrics,
    pc_tvd,
    pitch_class_counts,
    pitch_class_histogram,
    repeat_rate,
    top2_classes,
    top2_shares,
)


def test_repeat_rate_counts_equal_adjacent_pairs():
    assert repeat_rate(["C4", "C4", "D4", "D4"]) == pytest.approx(2 / 3)
    assert repeat_rate(["C4", "D4", "C4"]) == 0.0
    assert repeat_rate(["0.4.7"] * 5) == 1.0
    assert repeat_rate(["C4"]) == 0.0 and repeat_rate([]) == 0.0
    assert repeat_rate(["C4", "C5"]) == 0.0  # another octave is another token


def test_distinct_ratio_and_chord_share():
    assert distinct_ratio(["C4", "C4", "D4", "D4"]) == 0.5
    assert distinct_ratio(["C4", "D4", "0.4.7"]) == 1.0
    assert distinct_ratio([]) == 0.0
    assert chord_share(["C4", "0.4.7", "E4", "<unk>"]) == 0.25
    assert chord_share(["7", "2.7"]) == 1.0  # a one-pitch-class chord is still a chord
    assert chord_share([]) == 0.0


def test_pitch_class_histogram_counts_each_pitch_class_of_a_chord():
    counts = pitch_class_counts(["C4", "0.4.7", "E-4", "<unk>", "C5", "B-2", "C#3"])
    #                   C  C# D  E- E  F  F# G  G# A  B- B
    assert counts == [3, 1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0]
    hist = pitch_class_histogram(["C4", "0.4.7"])
    assert hist[0] == pytest.approx(0.5) and hist[4] == pytest.approx(0.25) and hist[7] == pytest.approx(0.25)
    assert sum(hist) == pytest.approx(1.0)
    assert pitch_class_histogram(["<unk>"]) == [0.0] * 12


def test_pc_tvd_known_values():
    assert pc_tvd(["C4"], ["G4"]) == 1.0
    assert pc_tvd(["C4", "G4"], ["C4", "C4"]) == pytest.approx(0.5)
    assert pc_tvd(["0.7"], ["C4", "G3"]) == 0.0  # the chord C-G sounds what the two notes do
    assert pc_tvd(["C4", "D4", "E4", "F4"], ["C5", "D2", "G4", "A4"]) == pytest.approx(0.5)
    assert pc_tvd([], []) == 0.0 and pc_tvd(["<unk>"], ["C4"]) == 1.0


def test_top2_shares_is_the_gd_collapse_check():
    generated = ["G4", "G3", "D4", "D5", "D4", "C4", "0.4.7", "B3"]  # D 3, G 2, C 1, B 1; one chord
    reference = ["G4", "C4", "C4", "D4"]
    top, share, true = top2_shares(generated, reference)
    assert top == ["D", "G"]
    assert share == pytest.approx(5 / 8)  # over all generated tokens, the chord included
    assert true == pytest.approx(2 / 4)
    assert top2_classes(["E4", "C4"]) == ["C", "E"]  # ties: C..B order
    assert top2_classes(["0.4.7", "<unk>"]) == []
    assert top2_shares(["0.4.7"], ["C4"])[1:] == (0.0, 0.0)


def test_music_metrics_pools_pieces():
    generated = [["C4", "C4"], ["C4", "D4"]]
    reference = [["C4", "D4", "C4", "C4", "E4"]]
    m = music_metrics(generated, reference)
    assert tuple(m) == METRIC_NAMES
    assert all(isinstance(v, float) and math.isfinite(v) for v in m.values())
    assert m["music_repeat_rate"] == pytest.approx(1 / 2)  # no pair across the two pieces (that would be 2/3)
    assert m["music_distinct_ratio"] == pytest.approx((1 / 2 + 2 / 2) / 2)
    assert m["music_chord_share"] == 0.0
    # C 3/4, D 1/4 against C 3/5, D 1/5, E 1/5: TVD = (0.15 + 0.05 + 0.2) / 2
    assert m["music_pc_tvd"] == pytest.approx(0.2)
    assert m["music_top2_share"] == pytest.approx(1.0)  # C and D are every generated token
    assert m["music_top2_true_share"] == pytest.approx(4 / 5)
    assert m["music_true_repeat_rate"] == pytest.approx(1 / 4)
    # reference chunks as long as the mean generated piece (2): [C4 D4], [C4 C4]; the tail E4 dropped
    assert m["music_true_distinct_ratio"] == pytest.approx((1 + 1 / 2) / 2)
    text = format_music_metrics(m)
    assert len(text.splitlines()) == 2 and "0.200" in text and "50.0%" in text

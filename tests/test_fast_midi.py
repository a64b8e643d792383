"""The fast reader gives music21's tokens exactly, or declines the file and music21 reads it.

Each comparison parses the same file both ways: music21 (`reader="music21"`, the seed's way) and
`reader="auto"`; the files are the embedded corpus (real four-voice chorales: overlapping voices,
ties over barlines) and random performance-like files (lstm/bench/random_midi.py).
"""

from __future__ import annotations

import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from lstm.bench.random_midi import performance
from lstm.data.fast_midi import MUSIC21_VERSION, Unsupported, fast_tokens, installed_music21
from lstm.data.tokens import TokenizeError, read_midi

MIDI = Path(__file__).parent / "midi"
RANDOM_FILES = 48


def _both(path: Path) -> tuple[str, list[str], object]:
    return str(path), read_midi(path, "music21").tokens, read_midi(path, "auto")


def _compare(paths: list[Path]) -> list:
    with ProcessPoolExecutor(2) as pool:
        return list(pool.map(_both, paths))


def _assert_identical(results) -> None:
    for name, expected, fast in results:
        assert fast.reader == "fast", (name, fast.declined)
        assert fast.tokens == expected, name


def test_music21_is_pinned_to_the_release_the_fast_reader_reproduces():
    import music21

    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    pins = re.findall(r'"music21([^"]*)"', pyproject)
    assert pins == [f"=={MUSIC21_VERSION}"]
    assert music21.__version__ == installed_music21() == MUSIC21_VERSION


def test_embedded_corpus_matches_music21(embedded_dir):
    results = _compare(sorted(embedded_dir.glob("*/*.midi")))
    assert len(results) == 50
    _assert_identical(results)
    # the chorales need music21's voices: notes starting together but ending apart are not one chord
    assert sum(len(tokens) for _, tokens, _ in results) > 20_000


def test_fixture_files_match_music21():
    names = ["known", "train_a", "train_b", "train_c", "rare_val", "rare_test", "short"]
    _assert_identical(_compare([MIDI / f"{n}.midi" for n in names]))


def test_random_performances_match_music21(tmp_path):
    paths = []
    for seed in range(RANDOM_FILES):
        paths.append(tmp_path / f"random-{seed}.mid")
        paths[-1].write_bytes(performance(seed))
    results = _compare(paths)
    for name, expected, read in results:
        assert read.tokens == expected, name
        # only a zero-length note (a grace note in music21) sends one of these files to music21
        assert read.reader == "fast" or read.declined.startswith("zero-length note"), (name, read.declined)
    assert sum(read.reader == "fast" for _, _, read in results) >= 0.8 * RANDOM_FILES
    assert min(len(tokens) for _, tokens, _ in results) >= 20


@pytest.mark.parametrize("variant, reason", [
    ("drums", "drum channel"),
    ("meter change", "time signature changes"),
    ("two pianos", "2 tracks with notes"),
])
def test_declined_files_are_read_by_music21(tmp_path, variant, reason):
    path = tmp_path / "declined.mid"
    path.write_bytes(performance(3, variant))
    with pytest.raises(Unsupported, match=reason):
        fast_tokens(path.read_bytes())
    if variant == "drums":  # music21 reads drums as unpitched notes: no seed tokens, the file is skipped
        with pytest.raises(TokenizeError, match="no notes or chords"):
            read_midi(path)
        return
    read = read_midi(path)
    assert read.reader == "music21" and read.declined == reason
    assert read.tokens == read_midi(path, "music21").tokens and len(read.tokens) >= 20


def test_prepare_counts_the_readers(tmp_path, embedded_dir):
    from lstm.data.maestro import read_pieces, write_csv
    from lstm.data.prepare import prepare

    data = tmp_path / "data"
    pieces = read_pieces(embedded_dir, None)[:4]
    for p in pieces:
        (data / p.midi_filename).parent.mkdir(parents=True, exist_ok=True)
        (data / p.midi_filename).write_bytes((embedded_dir / p.midi_filename).read_bytes())
    (data / pieces[0].midi_filename).write_bytes(performance(5, "meter change"))  # declined: music21 reads it
    write_csv(data, pieces)
    m = prepare(data, tmp_path / "out", tmp_path / "cache", workers=1, seq_len=8)
    assert m.readers == {"fast": 3, "music21": 1}
    assert m.fast_declined == {"time signature changes": 1}
    again = prepare(data, tmp_path / "out2", tmp_path / "cache", workers=1, seq_len=8)
    assert again.cache_hits == 4 and again.readers == m.readers  # the cache remembers the reader


def test_the_token_cache_is_keyed_by_the_music21_release(tmp_path):
    from lstm.data.prepare import file_key

    path = MIDI / "known.midi"
    assert file_key(path) == file_key(path, MUSIC21_VERSION)
    assert file_key(path, "10.6.0") != file_key(path, MUSIC21_VERSION)  # an upgrade reads the file again

"""A piano roll of a generated piece (plotly HTML, PNG when an image engine exists) and its audio.

The HTML is self-contained (plotly.js embedded), so it opens offline. A PNG is written only when
`kaleido` is importable and works; otherwise silently none. A WAV is rendered with the `fluidsynth`
binary and a General MIDI soundfont ($SOUNDFONT, or one of SOUNDFONT_PATHS); without them
`write_wav` writes nothing and returns the one-line reason.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from lstm.data.vocab import PITCH_CLASS_NAMES

SOUNDFONT_PATHS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/local/share/soundfonts/default.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",
)



def midi_name(pitch: int) -> str:
    return f"{PITCH_CLASS_NAMES[pitch % 12]}{pitch // 12 - 1}"


def piano_roll_figure(notes: Sequence[tuple[float, float, int]], title: str = "", tempo: float | None = None):
    """Notes as horizontal bars: (start, duration, MIDI pitch), times in quarter notes (beats)."""
    import plotly.graph_objects as go

    xs, ys, text = [], [], []
    for start, dur, pitch in notes:
        label = f"{midi_name(pitch)} at beat {start:g}, {dur:g} beats"
        xs += [start, start + dur, None]
        ys += [pitch, pitch, None]
        text += [label, label, None]
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="lines", line=dict(width=6), hovertext=text, hoverinfo="text",
                               connectgaps=False, name="notes"))
    pitches = [p for _, _, p in notes]
    lo, hi = (min(pitches), max(pitches)) if pitches else (60, 72)
    ticks = [p for p in range(lo - lo % 12, hi + 1, 12)]
    subtitle = f" ({tempo:g} beats a minute)" if tempo else ""
    fig.update_layout(title=title, xaxis_title=f"time in beats{subtitle}", yaxis_title="pitch",
                      template="plotly_white", showlegend=False)
    fig.update_yaxes(range=[lo - 1.5, hi + 1.5], tickvals=ticks, ticktext=[midi_name(p) for p in ticks])
    return fig


def png_engine() -> bool:
    return importlib.util.find_spec("kaleido") is not None


def write_piano_roll(notes: Sequence[tuple[float, float, int]], html_path: str | Path, title: str = "",
                     tempo: float | None = None) -> list[Path]:
    """Write HTML_PATH and, when kaleido works, the same name with .png; returns the paths written."""
    html_path = Path(html_path)
    fig = piano_roll_figure(notes, title, tempo)
    fig.write_html(html_path, include_plotlyjs=True, full_html=True)
    written = [html_path]
    if png_engine():
        png = html_path.with_suffix(".png")
        try:
            fig.write_image(png, width=1400, height=600)
            written.append(png)
        except Exception:  # kaleido present but unusable (e.g. no browser for kaleido >= 1): no PNG
            png.unlink(missing_ok=True)
    return written


def find_soundfont() -> Path | None:
    """$SOUNDFONT when it names a file, else the first of SOUNDFONT_PATHS that exists."""
    env = os.environ.get("SOUNDFONT")
    for candidate in ([env] if env else []) + list(SOUNDFONT_PATHS):
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def write_wav(midi_path: str | Path, wav_path: str | Path, soundfont: str | Path | None = None,
              sample_rate: int = 44100) -> tuple[Path | None, str]:
    """Render MIDI_PATH to WAV_PATH with fluidsynth; returns (the WAV or None, a one-line message)."""
    binary = shutil.which("fluidsynth")
    if binary is None:
        return None, ("no WAV: fluidsynth not found on PATH (install it and a General MIDI soundfont "
                      "such as FluidR3_GM.sf2 to get audio)")
    sf2 = Path(soundfont) if soundfont else find_soundfont()
    if sf2 is None or not sf2.is_file():
        return None, ("no WAV: no General MIDI soundfont found (set SOUNDFONT=/path/to/FluidR3_GM.sf2 "
                      "or install one, e.g. /usr/share/sounds/sf2/FluidR3_GM.sf2)")
    wav_path = Path(wav_path)
    cmd = [binary, "-ni", "-F", str(wav_path), "-r", str(sample_rate), str(sf2), str(midi_path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"no WAV: fluidsynth failed: {type(exc).__name__}: {exc}"
    if proc.returncode != 0 or not wav_path.is_file() or wav_path.stat().st_size == 0:
        reason = (proc.stderr or proc.stdout or "").strip().splitlines()
        return None, f"no WAV: fluidsynth exited {proc.returncode}: {reason[-1][:200] if reason else 'no output'}"
    return wav_path, f"wrote {wav_path}"

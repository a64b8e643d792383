"""A piano roll of a generated piece (plotly HTML, PNG when an image engine exists); audio is audio.py's.

The HTML is self-contained (plotly.js embedded), so it opens offline. A PNG is written only when
`kaleido` is importable and works; otherwise silently none.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from lstm.data.vocab import PITCH_CLASS_NAMES


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

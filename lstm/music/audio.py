"""A MIDI file rendered to compressed audio with FluidSynth, for listening in a browser (MLflow's
artifact view plays .ogg, .flac, .mp3 and .wav).

The `fluidsynth` binary and a General MIDI soundfont ($SOUNDFONT, or one of SOUNDFONT_PATHS: Debian's
`apt-get install fluidsynth fluid-soundfont-gm`) do the work; FluidSynth writes Ogg Vorbis and FLAC
itself through libsndfile (`-T oga`, `-T flac`), so no Python audio library is needed. Without them
`write_audio` writes nothing and returns the one-line reason.

Ogg Vorbis at 24 kHz is the default: a 200-token sample of the embedded chorales (95 s) is 0.74 MB,
against 16.6 MB as 44.1 kHz WAV; 24 kHz keeps everything up to 12 kHz, above the piano's highest
fundamental (4.2 kHz) and most of its overtones.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SOUNDFONT_PATHS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/local/share/soundfonts/default.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",
)

# format name → (file suffix, FluidSynth's -T file type, sample rate)
FORMATS = {
    "ogg": (".ogg", "oga", 24000),  # Vorbis; MLflow's viewer knows .ogg, not .oga
    "flac": (".flac", "flac", 44100),
    "wav": (".wav", "wav", 44100),
}
SUFFIXES = {suffix for suffix, _, _ in FORMATS.values()}
DEFAULT_FORMAT = "ogg"
INSTALL_HINT = "apt-get install fluidsynth fluid-soundfont-gm, or set SOUNDFONT=/path/to/a/GM.sf2"


def find_soundfont() -> Path | None:
    """$SOUNDFONT when it names a file, else the first of SOUNDFONT_PATHS that exists."""
    env = os.environ.get("SOUNDFONT")
    for candidate in ([env] if env else []) + list(SOUNDFONT_PATHS):
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def missing() -> str | None:
    """Why no audio can be rendered here (None: FluidSynth and a soundfont are present)."""
    if shutil.which("fluidsynth") is None:
        return f"fluidsynth not found on PATH ({INSTALL_HINT})"
    if find_soundfont() is None:
        return f"no General MIDI soundfont found ({INSTALL_HINT})"
    return None


def audio_path(midi_path: str | Path, fmt: str = DEFAULT_FORMAT) -> Path:
    return Path(midi_path).with_suffix(FORMATS[fmt][0])


def write_audio(midi_path: str | Path, fmt: str = DEFAULT_FORMAT, out: str | Path | None = None,
                soundfont: str | Path | None = None) -> tuple[Path | None, str]:
    """Render MIDI_PATH to OUT (default: beside it, the format's suffix); returns (the file or None, a
    one-line message)."""
    return start_audio(midi_path, fmt, out, soundfont).result()


class Rendering:
    """FluidSynth rendering in the background (a child process): `result()` waits for it and returns
    (the file or None, a one-line message), as write_audio does."""

    def __init__(self, out: Path, proc: subprocess.Popen | None = None, message: str = ""):
        self.out, self.proc, self.message = out, proc, message

    def result(self, timeout: float = 600) -> tuple[Path | None, str]:
        if self.proc is None:
            return None, self.message
        try:
            stdout, stderr = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            self.proc.kill()
            self.proc.communicate()
            return None, f"no audio: fluidsynth failed: {type(exc).__name__}: {exc}"
        out = self.out
        if self.proc.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
            reason = (stderr or stdout or "").strip().splitlines()
            out.unlink(missing_ok=True)
            return None, (f"no audio: fluidsynth exited {self.proc.returncode}: "
                          f"{reason[-1][:200] if reason else 'no output'}")
        return out, f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)"

    def stop(self) -> None:
        """End the rendering if it still runs (nothing will wait for it: its caller failed)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def start_audio(midi_path: str | Path, fmt: str = DEFAULT_FORMAT, out: str | Path | None = None,
                soundfont: str | Path | None = None) -> Rendering:
    """Start rendering MIDI_PATH as write_audio does, and return at once: FluidSynth runs on its own
    core while the caller goes on (a trial logs its results meanwhile)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown audio format {fmt!r}: choose one of {', '.join(FORMATS)}")
    out = Path(out) if out else audio_path(midi_path, fmt)
    if soundfont is None and (why := missing()):
        return Rendering(out, message=f"no audio: {why}")
    _, file_type, rate = FORMATS[fmt]
    sf2 = Path(soundfont) if soundfont else find_soundfont()
    # -n: no MIDI input, -i: no shell, -q: quiet; -F renders as fast as it can into the file.
    cmd = [shutil.which("fluidsynth") or "fluidsynth", "-niq", "-T", file_type, "-F", str(out), "-r", str(rate),
           str(sf2), str(midi_path)]
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as exc:
        return Rendering(out, message=f"no audio: fluidsynth failed: {type(exc).__name__}: {exc}")
    return Rendering(out, proc)

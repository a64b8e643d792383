"""MIDI → tokens → arrays on disk → windows: the data path, MAESTRO or the embedded default."""

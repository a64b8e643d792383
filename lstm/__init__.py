"""maestro-lstm: next-token LSTMs on MAESTRO piano performances.

The data path, one module a step: data.maestro (layout) → data.tokens (music21) → data.prepare (cached
arrays) → data.windows → models (seed: the seed's recipe) → train → evaluate (+ baselines, pitch_classes)
→ music.generate. `lstm bench` (bench/) measures it next to the seed's way.
"""

__version__ = "0.1.0"

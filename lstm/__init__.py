"""maestro-lstm: next-token LSTMs on MAESTRO piano performances.

The data path, one module a step: maestro (layout) → tokens (music21) → prepare (cached arrays)
→ windows → models → train → evaluate (+ baselines, errors) → generate.
"""

__version__ = "0.1.0"

"""The registered model: an MLflow pyfunc composer, MIDI in and MIDI out (logged from code by registry.py).

This file travels inside the model and is run where the model is loaded, so it imports only MLflow,
pandas and `lstm` (carried in the model's `code/`), never `flows`. Input: a table with a `primer` column
(a standard MIDI file, base64; empty: the model's own primer). Params: `length`, `temperature`, `top_k`
(0: off), `seed`. Output: one row per primer, `midi` (base64 MIDI of the continuation), `tokens`,
`notes`, `seconds`. A primer it cannot read is the caller's error (HTTP 400 from `mlflow models serve`).
"""

from __future__ import annotations

import base64
import binascii

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

from lstm.music.compose import (
    COMPOSER_DIR,
    DEFAULT_SAMPLING,
    PrimerError,
    compose,
    load_composer,
    primer_from_midi,
)


class ComposerModel(PythonModel):
    def load_context(self, context) -> None:
        self.composer = load_composer(context.artifacts[COMPOSER_DIR], "cpu")

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        p = {**DEFAULT_SAMPLING, **(params or {})}
        rows = []
        try:
            for k, encoded in enumerate(model_input["primer"].fillna("").astype(str)):
                primer = primer_from_midi(self.composer, decode(encoded, k), f"primer {k}") if encoded else None
                piece = compose(self.composer, primer, length=int(p["length"]),
                                temperature=float(p["temperature"]), top_k=int(p["top_k"]) or None,
                                seed=int(p["seed"]))
                rows.append({"midi": base64.b64encode(piece.midi()).decode("ascii"),
                             "tokens": " ".join(piece.tokens), "notes": len(piece.tokens),
                             "seconds": round(piece.seconds, 3)})
        except (PrimerError, ValueError) as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None
        return pd.DataFrame(rows, columns=["midi", "tokens", "notes", "seconds"])


def decode(encoded: str, k: int) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"primer {k}: not base64 (send a standard MIDI file, base64-encoded)") from None


mlflow.models.set_model(ComposerModel())

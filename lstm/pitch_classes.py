"""Error analysis: which pitch classes does a model predict, against the true ones?

The seed's report observed that predictions collapse onto G and D; these histograms check that on
every model. Classes: the 12 pitch classes of note tokens, plus `chord` and `unknown`.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from lstm.data.vocab import PITCH_CLASS_NAMES, token_class

CLASSES = [*PITCH_CLASS_NAMES, "chord", "unknown"]


def class_histograms(predicted: list[int], true: list[int], vocab: list[str]) -> dict:
    classes = [token_class(t) for t in vocab]
    pred = Counter(classes[i] for i in predicted)
    real = Counter(classes[i] for i in true)
    n = max(len(true), 1)

    def share(counter, name):
        return counter[name] / n

    top2 = [name for name, _ in pred.most_common(2)]
    return {
        "classes": CLASSES,
        "predicted": [pred[c] for c in CLASSES],
        "true": [real[c] for c in CLASSES],
        "targets": len(true),
        "predicted_share_G": share(pred, "G"), "predicted_share_D": share(pred, "D"),
        "true_share_G": share(real, "G"), "true_share_D": share(real, "D"),
        "top2_predicted": top2,
        "top2_predicted_share": sum(share(pred, c) for c in top2),
        "top2_true_share": sum(share(real, c) for c in top2),
    }


def write_histogram(hist: dict, out_dir: Path, title: str = "Predicted vs true classes (test split)") -> Path:
    """gd_histogram.json and a self-contained gd_histogram.html (plotly.js embedded: opens offline)."""
    import plotly.graph_objects as go

    (out_dir / "gd_histogram.json").write_text(json.dumps(hist, indent=2))
    fig = go.Figure([go.Bar(name="true", x=hist["classes"], y=hist["true"]),
                     go.Bar(name="predicted", x=hist["classes"], y=hist["predicted"])])
    fig.update_layout(barmode="group", title=f"{title}: predicted G {hist['predicted_share_G']:.1%}, "
                                             f"D {hist['predicted_share_D']:.1%}",
                      xaxis_title="pitch class of the next token", yaxis_title="targets")
    path = out_dir / "gd_histogram.html"
    fig.write_html(path, include_plotlyjs=True, full_html=True)
    return path

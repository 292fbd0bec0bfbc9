"""Small learned models evaluated with NumPy: the reader's weights ship as JSON (``rag/models/reader.json``),
so answering needs no training library."""

from __future__ import annotations

import numpy as np

__all__ = ["Model"]


class Model:
    """A small standardised MLP (no hidden layer: logistic regression) evaluated with NumPy.

    A spec with ``members`` is an ensemble: the mean of its members' probabilities
    (several networks fit from different seeds vary less than any one of them).
    """

    def __new__(cls, spec: dict):
        if "members" in spec:
            return _Ensemble([Model(m) for m in spec["members"]])
        return super().__new__(cls)

    def __init__(self, spec: dict):
        self.features: list[str] = spec["features"]
        self.mean = np.asarray(spec["mean"], dtype=np.float64)
        self.scale = np.asarray(spec["scale"], dtype=np.float64)
        self.layers = [(np.asarray(l["W"], dtype=np.float64), np.asarray(l["b"], dtype=np.float64))
                       for l in spec["layers"]]

    def __call__(self, rows: dict[str, np.ndarray]) -> np.ndarray:
        x = np.stack([np.asarray(rows[f], dtype=np.float64) for f in self.features], axis=1)
        x = (x - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        return 1.0 / (1.0 + np.exp(-np.clip(x[:, 0], -40, 40)))


class _Ensemble:
    def __init__(self, members: list[Model]):
        self.members = members
        self.features = sorted({f for m in members for f in m.features})

    def __call__(self, rows: dict[str, np.ndarray]) -> np.ndarray:
        return np.mean([m(rows) for m in self.members], axis=0)

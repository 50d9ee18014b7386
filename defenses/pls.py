"""Partial least squares (scikit-learn's ``PLSRegression``) and its Variable Importance in Projection.

Jordao et al. rank filters and layers by how much they contribute to a PLS projection that predicts the
class labels from clean-image features (Jordao, Yamada, Schwartz, *Deep network compression based on
partial least squares*, Neurocomputing 2020; Jordao, Lie, Schwartz, *Discriminative layer pruning for
convolutional neural networks*, IEEE JSTSP 2020).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.cross_decomposition import PLSRegression

N_COMPONENTS = 2  # PLS components, the authors' setting


def _fit(features: np.ndarray, labels: np.ndarray, n_components: int) -> tuple[PLSRegression, np.ndarray]:
    onehot = np.eye(int(labels.max()) + 1 if labels.size else 10)[labels]
    with warnings.catch_warnings():  # constant features (dead filters) make sklearn warn; they get VIP 0
        warnings.simplefilter("ignore")
        pls = PLSRegression(n_components=n_components, scale=True).fit(features, onehot)
    return pls, onehot


def vip(features: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor,
        n_components: int = N_COMPONENTS) -> np.ndarray:
    """VIP score of every feature (column) for predicting one-hot ``labels`` (Wold et al. 1993).

    VIP_j = sqrt(p · Σ_a SS_a (w_ja / ‖w_a‖)² / Σ_a SS_a), with SS_a = ‖q_a‖² · ‖t_a‖² the response variance
    explained by component a (w: X weights, t: X scores, q: Y loadings). Σ_j VIP_j² = p, the number of
    features, so the mean VIP² over all features is always 1.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    x = np.nan_to_num(x)
    pls, _ = _fit(x, y, n_components)
    w, t, q = pls.x_weights_, pls.x_scores_, pls.y_loadings_
    ss = (q**2).sum(0) * (t**2).sum(0)
    wn = w / np.linalg.norm(w, axis=0, keepdims=True)
    return np.sqrt(x.shape[1] * (wn**2 @ ss) / ss.sum())


def fit_quality(features: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor,
                n_components: int = N_COMPONENTS) -> float:
    """R² of the PLS prediction of one-hot labels from ``features`` (1 is perfect, 0 is the mean)."""
    x = np.nan_to_num(np.asarray(features, dtype=np.float64))
    pls, onehot = _fit(x, np.asarray(labels), n_components)
    return float(pls.score(x, onehot))

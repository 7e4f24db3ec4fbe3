"""Principal component analysis to 2-D, written out with the SVD (scikit-learn's PCA gives the same)."""

from __future__ import annotations

import torch


def pca_2d(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Project rows of ``x`` (n, d) onto their two directions of largest variance.

    Returns ``(points (n, 2), explained_variance_ratio (2,))``. Each component's sign is fixed so that
    its largest-magnitude loading is positive (the SVD leaves it arbitrary).
    """
    centred = x - x.mean(dim=0, keepdim=True)
    _, singular, vt = torch.linalg.svd(centred.double(), full_matrices=False)
    components = vt[:2]  # (2, d)
    signs = torch.sign(components.gather(1, components.abs().argmax(dim=1, keepdim=True)))
    components = components * signs
    variance = singular**2
    return (centred.double() @ components.T).float(), (variance[:2] / variance.sum()).float()

"""hermes: adversarial robustness of medical image classifiers, in pure PyTorch.

Attacks (:mod:`hermes.attacks`), input-preprocessing defenses (:mod:`hermes.defenses`), PCam data
(:mod:`hermes.data`), models and LP-FT training (:mod:`hermes.models`), and the AUROC grid
(:func:`evaluate_robustness`). Images are float tensors ``(B, C, H, W)`` in ``[0, 1]``;
normalization lives inside the model.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from hermes.attacks import PGD
    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 1))
    >>> x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    >>> x_adv = PGD(model, eps=0.03, steps=5, generator=0)(x, torch.tensor([0, 1, 0, 1]))
    >>> bool((x_adv - x).abs().max() <= 0.03 + 1e-6)
    True
"""

from hermes import errors
from hermes.evaluation import RobustnessReport, evaluate_robustness
from hermes.version import __version__

__all__ = ["RobustnessReport", "__version__", "errors", "evaluate_robustness"]

"""Models and training: input normalization, the ResNet-18 builder, checkpoints, LP-FT fine-tuning.

Example:
    >>> import torch
    >>> from hermes.models import resnet18, positive_class_scores
    >>> model = resnet18(num_outputs=2, weights=None, seed=0).eval()
    >>> positive_class_scores(model(torch.rand(3, 3, 32, 32))).shape
    torch.Size([3])
"""

from hermes.errors import WeightsError
from hermes.models.adversarial_training import AdversarialTraining
from hermes.models.augmentation import Augmentation
from hermes.models.checkpoint import Checkpoint, load_checkpoint, read_checkpoint, save_checkpoint
from hermes.models.history import EpochRecord, History
from hermes.models.normalize import IMAGENET_MEAN, IMAGENET_STD, Normalize, normalize
from hermes.models.registry import TESTED_MODELS, BuiltModel, available_models, build_model
from hermes.models.resnet import ResNet18, resnet18
from hermes.models.reuse import reuse_checkpoint
from hermes.models.scores import positive_class_scores
from hermes.models.training import fine_tune

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TESTED_MODELS",
    "AdversarialTraining",
    "Augmentation",
    "BuiltModel",
    "Checkpoint",
    "EpochRecord",
    "History",
    "Normalize",
    "ResNet18",
    "WeightsError",
    "available_models",
    "build_model",
    "fine_tune",
    "load_checkpoint",
    "normalize",
    "positive_class_scores",
    "read_checkpoint",
    "resnet18",
    "reuse_checkpoint",
    "save_checkpoint",
]

"""Training-time augmentation on the tensors' device, with kornia, reproducible from a seed.

The default suite is the one the HERMES study trained its augmented model with: horizontal and
vertical flips, a rotation of up to 90 degrees, colour jitter (brightness, contrast and saturation
0.2, hue 0.1) and random erasing (probability 0.5, 2-20 % of the image). Every stage can be
changed or switched off (``0``).

kornia draws its random parameters from torch's global RNG. :class:`Augmentation` gives each call
its own seed, drawn from its ``generator`` attribute (hermes' convention for a module's source of
randomness), and runs kornia under a forked, seeded global RNG, so the same ``seed`` gives the
same augmentations and the caller's RNG state is never touched.

Example:
    >>> import torch
    >>> augment = Augmentation(seed=0)
    >>> x = torch.rand(4, 3, 32, 32)
    >>> y = augment(x)
    >>> y.shape, bool(y.min() >= 0 and y.max() <= 1)
    (torch.Size([4, 3, 32, 32]), True)
    >>> torch.equal(y, Augmentation(seed=0)(x))
    True
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import kornia.augmentation as K
import torch
from torch import nn

from hermes._random import (
    GeneratorLike,
    check_generator,
    check_seed,
    deprecated_generator_seed,
    draw_seed,
    make_generator,
    seeded_global_rng,
)
from hermes._validation import check_images, check_number
from hermes.errors import RangeError

__all__ = ["Augmentation"]


class Augmentation(nn.Module):
    """A configurable, seeded kornia augmentation pipeline for ``[0, 1]`` image batches.

    Stages run in this order, each sample drawing its own parameters: horizontal flip,
    vertical flip, rotation, colour jitter (its four adjustments in random order, as in
    torchvision), random erasing. Outputs stay in ``[0, 1]`` (rotation fills corners with 0,
    erasing writes 0).

    Args:
        hflip: probability of a horizontal flip.
        vflip: probability of a vertical flip.
        rotation: maximum rotation in degrees; each image turns by an angle drawn uniformly from
            ``[-rotation, rotation]`` (bilinear, always applied). ``0`` disables it.
        brightness: brightness factor drawn from ``[1 - brightness, 1 + brightness]``.
        contrast: contrast factor drawn from ``[1 - contrast, 1 + contrast]``.
        saturation: saturation factor drawn from ``[1 - saturation, 1 + saturation]``.
        hue: hue shift drawn from ``[-hue, hue]`` (in turns, at most 0.5).
        erasing: probability of erasing one rectangle (set to 0).
        erasing_scale: the rectangle's area as a fraction of the image, ``(low, high)``.
        seed: an int: ``generator`` becomes a ``torch.Generator`` seeded with it, so successive
            calls differ and the sequence repeats for the same seed. ``None`` (and no
            ``generator``): seeded from the operating system. A ``torch.Generator`` here is
            deprecated (it still works, with a ``DeprecationWarning``): pass it as ``generator``.
        generator: the source of every call's seed instead of ``seed``: a ``torch.Generator``
            (its state advances) or an int (every call augments the same way).

    Attributes:
        generator: the source of each call's seed (a ``torch.Generator``, an int or ``None``),
            public so that evaluation and EOT code can seed it (``hermes._random.seeded``).

    Images with another channel count than 3 (grayscale) get the same stages with brightness and
    contrast jitter only (saturation and hue are defined on RGB). Volumes ``(B, C, D, H, W)`` get
    the 3D stages kornia has: flips of width and depth (each with probability ``hflip``) and of
    height (``vflip``), and a 3D rotation of up to ``rotation`` degrees about each axis; colour
    jitter and erasing are not applied to volumes.

    Shape:
        - Input: :math:`(B, C, H, W)` or :math:`(B, C, D, H, W)` in ``[0, 1]``
        - Output: the input's shape, in ``[0, 1]``, same dtype and device
    """

    def __init__(
        self,
        *,
        hflip: float = 0.5,
        vflip: float = 0.5,
        rotation: float = 90.0,
        brightness: float = 0.2,
        contrast: float = 0.2,
        saturation: float = 0.2,
        hue: float = 0.1,
        erasing: float = 0.5,
        erasing_scale: tuple[float, float] = (0.02, 0.2),
        seed: int | None = None,
        generator: GeneratorLike = None,
    ) -> None:
        super().__init__()
        self.hflip = check_number(hflip, "hflip", low=0, high=1)
        self.vflip = check_number(vflip, "vflip", low=0, high=1)
        self.rotation = check_number(rotation, "rotation", low=0, high=180)
        self.brightness = check_number(brightness, "brightness", low=0, high=1)
        self.contrast = check_number(contrast, "contrast", low=0, high=1)
        self.saturation = check_number(saturation, "saturation", low=0, high=1)
        self.hue = check_number(hue, "hue", low=0, high=0.5)
        self.erasing = check_number(erasing, "erasing", low=0, high=1)
        self.erasing_scale = _check_scale(erasing_scale)
        legacy = deprecated_generator_seed(seed, "Augmentation", "pass it as generator=")
        seed = None if legacy is not None else check_seed(seed, optional=True)
        if generator is not None and (seed is not None or legacy is not None):
            raise ValueError("pass seed or generator to Augmentation, not both")
        if legacy is not None:
            generator = legacy
        self.generator: GeneratorLike = (
            make_generator(seed) if generator is None else check_generator(generator)
        )

        stages: list[nn.Module] = []
        if self.hflip > 0:
            stages.append(K.RandomHorizontalFlip(p=self.hflip))
        if self.vflip > 0:
            stages.append(K.RandomVerticalFlip(p=self.vflip))
        if self.rotation > 0:
            stages.append(K.RandomRotation(degrees=self.rotation, p=1.0))
        gray = list(stages)  # the same stages for images of other channel counts, ...
        jitter = (self.brightness, self.contrast, self.saturation, self.hue)
        if any(j > 0 for j in jitter):
            stages.append(K.ColorJitter(*jitter, p=1.0))
        if self.brightness > 0 or self.contrast > 0:  # ... with brightness and contrast only
            gray.append(K.ColorJitter(self.brightness, self.contrast, 0.0, 0.0, p=1.0))
        if self.erasing > 0:
            erase = K.RandomErasing(scale=self.erasing_scale, p=self.erasing)
            stages.append(erase)
            gray.append(erase)
        self.stages = nn.Sequential(*stages)
        self.gray_stages = nn.Sequential(*gray)
        volume: list[nn.Module] = []
        if self.hflip > 0:
            volume += [
                K.RandomHorizontalFlip3D(p=self.hflip),
                K.RandomDepthicalFlip3D(p=self.hflip),
            ]
        if self.vflip > 0:
            volume.append(K.RandomVerticalFlip3D(p=self.vflip))
        if self.rotation > 0:
            volume.append(K.RandomRotation3D(degrees=self.rotation, p=1.0))
        self.volume_stages = nn.Sequential(*volume)

    def manual_seed(self, seed: int) -> Augmentation:
        """Restart the random stream from ``seed`` (``generator`` becomes a generator seeded
        with it); returns ``self``."""
        self.generator = make_generator(check_seed(seed))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Augment a batch of images ``(B, C, H, W)`` or volumes ``(B, C, D, H, W)`` in ``[0, 1]``."""
        check_images(x, "x", volumes=True)
        if x.ndim == 5:
            stages = self.volume_stages
        else:
            stages = self.stages if x.shape[1] == 3 else self.gray_stages
        if x.shape[0] == 0 or len(stages) == 0:
            return x.clone()
        with seeded_global_rng(draw_seed(make_generator(self.generator)), x.device):
            return stages(x)

    @property
    def jitter_on(self) -> bool:
        """Whether colour jitter is part of the pipeline."""
        return any(j > 0 for j in (self.brightness, self.contrast, self.saturation, self.hue))

    def extra_repr(self) -> str:
        return (
            f"hflip={self.hflip}, vflip={self.vflip}, rotation={self.rotation}, "
            f"brightness={self.brightness}, contrast={self.contrast}, "
            f"saturation={self.saturation}, hue={self.hue}, erasing={self.erasing}, "
            f"erasing_scale={self.erasing_scale}"
        )

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if isinstance(self.generator, torch.Generator):  # stored as its device and state
            state["generator"] = _GeneratorState(
                str(self.generator.device), self.generator.get_state()
            )
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "_generator" in state:  # pickled before the attribute was public
            state["generator"] = _GeneratorState(*state.pop("_generator"))
        if isinstance(state.get("generator"), _GeneratorState):
            state["generator"] = state["generator"].restore()
        self.__dict__.update(state)


class _GeneratorState(NamedTuple):
    """A ``torch.Generator`` as plain values, for pickling."""

    device: str
    state: torch.Tensor

    def restore(self) -> torch.Generator:
        generator = torch.Generator(device=self.device)
        generator.set_state(self.state)
        return generator


def _check_scale(scale: Any) -> tuple[float, float]:
    if (
        not isinstance(scale, (tuple, list))
        or len(scale) != 2
        or not all(isinstance(s, numbers.Real) and not isinstance(s, bool) for s in scale)
    ):
        raise TypeError(f"erasing_scale must be a pair (low, high) of numbers; got {scale!r}")
    low, high = (float(s) for s in scale)
    if not 0 < low <= high <= 1:
        raise RangeError(f"erasing_scale must satisfy 0 < low <= high <= 1; got {scale!r}")
    return low, high

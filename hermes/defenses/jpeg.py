"""JPEG compression: encode every image at a given quality and decode it again.

The forward pass is real JPEG: the batch is rounded to uint8 (round half to even, never
truncated) and runs through libjpeg(-turbo) via ``torchvision.io.encode_jpeg``/``decode_jpeg``,
one batched call each, with 4:2:0 chroma subsampling for RGB. The result is byte-identical to
a Pillow ``Image.save(format="JPEG", quality=q)`` round trip of the same uint8 image.

JPEG is piecewise constant in its input (quantization), so it has no useful gradient of its
own. Two backward passes are offered:

- ``"surrogate"`` (default): the gradient of ``kornia.enhance.jpeg_codec_differentiable``
  (Shin & Song 2017; Reich et al. 2024), a differentiable model of the same codec;
- ``"identity"``: BPDA (Athalye et al. 2018), the gradient passes through unchanged.

With ``differentiable=True`` the forward pass is kornia's approximation itself (about 40 dB
PSNR against real JPEG; see ``docs/defenses.md``).

kornia's codec takes RGB only: a grayscale image is repeated over three channels (its chroma is
then constant, so only the luma path, the one grayscale JPEG uses, acts on it) and the mean of
the three output channels is returned. Sizes that are not multiples of 16 are padded by
replicating the last row and column, as libjpeg does, inside kornia.

JPEG is a codec of 2D images: a batch of volumes ``(B, C, D, H, W)`` is refused with a
:class:`~hermes.errors.ShapeError` rather than compressed slice by slice behind the user's back
(which axis to slice along, and whether slice-wise compression is a meaningful defense for a
volume, is the user's call). The message shows the reshape that applies it to every depth slice.
"""

from __future__ import annotations

import warnings

import torch
from kornia.enhance import jpeg_codec_differentiable
from torchvision.io import ImageReadMode, decode_jpeg, encode_jpeg

from hermes._settings import setting
from hermes._substitute import substitute_gradient
from hermes._validation import check_bool, check_choice, check_images, check_positive_int
from hermes.defenses._base import GRADIENT, Defense, refuse_volumes
from hermes.errors import RangeError, ShapeError

__all__ = ["JPEG", "jpeg"]

GRADIENTS = ("surrogate", "identity")
_CHUNK = 64  # images per encode/decode call
_DEPRECATION = "The image decoding and encoding capabilities of TorchVision are deprecated"


def _check_quality(quality: object, name: str = "quality") -> int:
    quality = check_positive_int(quality, name)
    if quality > 100:
        raise RangeError(f"{name} must be an integer in 1..100; got {quality}")
    return quality


def _check_input(x: torch.Tensor) -> None:
    """Images (not volumes) in [0, 1] with a channel count JPEG can encode."""
    refuse_volumes(x, "x", "JPEG")
    check_images(x, "x")
    if x.shape[1] not in (1, 3):
        raise ShapeError(
            "x must have 1 (grayscale) or 3 (RGB) channels for JPEG compression; "
            f"got {x.shape[1]} channels (shape {tuple(x.shape)})"
        )


def _codec(pixels: torch.Tensor, quality: int) -> list[torch.Tensor]:
    """Encode and decode a uint8 ``(B, C, H, W)`` CPU batch; returns ``B`` decoded images."""
    with warnings.catch_warnings():
        # torchvision 0.29 flags its image codecs for a future move to TorchCodec; hermes pins
        # the behaviour with tests against Pillow, and a user cannot act on the warning.
        warnings.filterwarnings("ignore", _DEPRECATION, DeprecationWarning)
        encoded = encode_jpeg(list(pixels), quality=quality)
        return decode_jpeg(encoded, mode=ImageReadMode.UNCHANGED)


def _jpeg_exact(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Real JPEG round trip of a batch through libjpeg (on the CPU), no autograd.

    Works through the batch ``_CHUNK`` images at a time so the uint8 buffers stay small.
    """
    out = torch.empty_like(x, memory_format=torch.contiguous_format)
    work = torch.promote_types(x.dtype, torch.float32)  # round half-precision input in float32
    for start in range(0, x.shape[0], _CHUNK):
        pixels = (x[start : start + _CHUNK].detach().to(work) * 255).round_()
        pixels = pixels.to(device="cpu", dtype=torch.uint8)
        torch.stack(_codec(pixels, quality), out=pixels)
        out[start : start + _CHUNK].copy_(pixels).div_(255)
    return out


def _jpeg_kornia(x: torch.Tensor, quality: int) -> torch.Tensor:
    """kornia's differentiable JPEG model; grayscale goes through as three equal channels."""
    q = torch.tensor([float(quality)], dtype=x.dtype, device=x.device)
    if x.shape[1] == 1:
        return jpeg_codec_differentiable(x.expand(-1, 3, -1, -1), q).mean(dim=1, keepdim=True)
    return jpeg_codec_differentiable(x, q)


def jpeg(
    x: torch.Tensor,
    quality: int = 50,
    gradient: str = "surrogate",
    differentiable: bool = False,
) -> torch.Tensor:
    """JPEG-compress and decompress every image of a batch.

    Args:
        x: RGB (``C = 3``) or grayscale (``C = 1``) images in ``[0, 1]``. Volumes
            ``(B, C, D, H, W)`` are refused (JPEG is 2D-only); to compress every depth slice,
            pass ``x.transpose(1, 2).reshape(-1, C, H, W)`` and reshape the result back.
        quality: libjpeg quality, an integer in ``1..100`` (the study used 50, 70 and 90).
        gradient: backward pass: ``"surrogate"`` (default, kornia's differentiable JPEG) or
            ``"identity"`` (BPDA).
        differentiable: if ``True``, the forward pass is kornia's differentiable approximation
            instead of the real codec (``gradient="surrogate"`` then means plain autograd).

    Returns:
        The decoded images, same shape, dtype and device as ``x``, multiples of ``1 / 255``
        when ``differentiable`` is ``False``.

    Shape:
        - x: :math:`(B, C, H, W)` with :math:`C \\in \\{1, 3\\}`
        - output: :math:`(B, C, H, W)`

    Example:
        >>> import torch
        >>> x = torch.full((1, 3, 16, 16), 0.5)
        >>> y = jpeg(x, quality=75)                      # 0.5 rounds to 128 / 255
        >>> torch.equal(y, torch.full_like(x, 128 / 255))   # a flat image survives JPEG exactly
        True
        >>> jpeg(torch.rand(2, 4, 8, 8))
        Traceback (most recent call last):
        ...
        hermes.errors.ShapeError: x must have 1 (grayscale) or 3 (RGB) channels for JPEG compression; got 4 channels (shape (2, 4, 8, 8))
        >>> v = torch.rand(2, 1, 4, 16, 16)                     # volumes: compress each slice
        >>> slices = jpeg(v.transpose(1, 2).reshape(-1, 1, 16, 16))
        >>> slices.reshape(2, 4, 1, 16, 16).transpose(1, 2).shape
        torch.Size([2, 1, 4, 16, 16])
    """
    _check_input(x)
    return _jpeg(
        x,
        _check_quality(quality),
        check_choice(gradient, "gradient", GRADIENTS),
        check_bool(differentiable, "differentiable"),
    )


def _jpeg(x: torch.Tensor, quality: int, gradient: str, differentiable: bool) -> torch.Tensor:
    """:func:`jpeg` on checked input and settings."""
    if x.numel() == 0:
        return x.clone()
    if differentiable:
        if gradient == "identity":
            return substitute_gradient(x, lambda v: _jpeg_kornia(v, quality))
        return _jpeg_kornia(x, quality)
    if gradient == "identity":
        return substitute_gradient(x, lambda v: _jpeg_exact(v, quality))
    return substitute_gradient(
        x, lambda v: _jpeg_exact(v, quality), lambda v: _jpeg_kornia(v, quality)
    )


class JPEG(Defense):
    """JPEG compression defense; see :func:`jpeg`.

    Args:
        quality: libjpeg quality in ``1..100``.
        gradient: ``"surrogate"`` (default) or ``"identity"`` (BPDA).
        differentiable: use kornia's differentiable approximation as the forward pass.

    Shape:
        - input: :math:`(B, C, H, W)` in ``[0, 1]`` with :math:`C \\in \\{1, 3\\}`; volumes
          :math:`(B, C, D, H, W)` are refused (2D only, see :func:`jpeg`)
        - output: :math:`(B, C, H, W)` in ``[0, 1]``

    Example:
        >>> import torch
        >>> defense = JPEG(quality=50)
        >>> x = torch.rand(4, 3, 96, 96, requires_grad=True)
        >>> y = defense(x)                               # real libjpeg output
        >>> torch.equal(y, (y * 255).round() / 255)    # whole uint8 levels
        True
        >>> y.sum().backward()                           # gradient of kornia's model
        >>> x.grad.shape
        torch.Size([4, 3, 96, 96])
    """

    gradient_modes = GRADIENTS
    quality: int = setting(_check_quality, default=50)
    gradient: str | None = GRADIENT
    differentiable: bool = setting(check_bool, default=False)
    operation = staticmethod(_jpeg)

    def _check_input(self, x: torch.Tensor) -> None:
        _check_input(x)

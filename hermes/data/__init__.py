"""Data: PatchCamelyon, MedMNIST (2D and 3D), image folders and in-memory arrays.

- :class:`PCam`: the real (or synthetic) PCam files of one split, read lazily and safely with
  ``DataLoader`` workers, with a fast batched path for evaluation.
- :func:`make_synthetic_pcam` (:mod:`~hermes.data.synthetic`): writes synthetic H&E-like patches
  in exactly the release's file format; :func:`synthetic_pcam_arrays` and
  :func:`generate_synthetic_patches` (:mod:`~hermes.data.tissue`) draw them in memory.
- :func:`stratified_indices`: a seeded subset that keeps class proportions.
- :class:`MedMNIST`: one split of a MedMNIST v2 / MedMNIST+ ``.npz`` file (every 2D and 3D
  flag); :func:`make_synthetic_medmnist` writes small stand-ins in the same format.
- :func:`image_folder`: images in class folders (torchvision's ``ImageFolder`` layout);
  :func:`from_arrays`: uint8/float arrays as ``(images, labels)`` tensors.
"""

from hermes.data._medmnist_flags import FLAGS as MEDMNIST_FLAGS
from hermes.data._medmnist_flags import MedMNISTInfo
from hermes.data._medmnist_flags import flag_info as medmnist_info
from hermes.data.arrays import from_arrays
from hermes.data.image_folder import ImageFolderDataset, image_folder
from hermes.data.medmnist import MedMNIST
from hermes.data.pcam import PCam
from hermes.data.subset import stratified_indices
from hermes.data.synthetic import PCamFiles, make_synthetic_pcam
from hermes.data.synthetic_medmnist import make_synthetic_medmnist, synthetic_medmnist_arrays
from hermes.data.tissue import SyntheticPatches, generate_synthetic_patches, synthetic_pcam_arrays

__all__ = [
    "MEDMNIST_FLAGS",
    "ImageFolderDataset",
    "MedMNIST",
    "MedMNISTInfo",
    "PCam",
    "PCamFiles",
    "SyntheticPatches",
    "from_arrays",
    "generate_synthetic_patches",
    "image_folder",
    "make_synthetic_medmnist",
    "make_synthetic_pcam",
    "medmnist_info",
    "stratified_indices",
    "synthetic_medmnist_arrays",
    "synthetic_pcam_arrays",
]

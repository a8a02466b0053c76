"""PatchCamelyon data: the HDF5 files as a torch ``Dataset``, and a synthetic stand-in.

- :class:`PCam`: the real (or synthetic) PCam files of one split, read lazily and safely with
  ``DataLoader`` workers, with a fast batched path for evaluation.
- :func:`make_synthetic_pcam` (:mod:`~hermes.data.synthetic`): writes synthetic H&E-like patches
  in exactly the release's file format; :func:`synthetic_pcam_arrays` and
  :func:`generate_synthetic_patches` (:mod:`~hermes.data.tissue`) draw them in memory.
- :func:`stratified_indices`: a seeded subset that keeps class proportions.
"""

from hermes.data.pcam import PCam
from hermes.data.subset import stratified_indices
from hermes.data.synthetic import PCamFiles, make_synthetic_pcam
from hermes.data.tissue import SyntheticPatches, generate_synthetic_patches, synthetic_pcam_arrays

__all__ = [
    "PCam",
    "PCamFiles",
    "SyntheticPatches",
    "generate_synthetic_patches",
    "make_synthetic_pcam",
    "stratified_indices",
    "synthetic_pcam_arrays",
]

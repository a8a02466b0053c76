"""The facts of every MedMNIST v2 / MedMNIST+ dataset flag, in one table.

Facts from the MedMNIST papers (Yang et al., Scientific Data 2023; MedMNIST+ 2024) and the
``medmnist`` package's dataset description (version 3.0.2): task type, channels, class names and
the published split sizes of the MedMNIST+ release (Zenodo record 10519652; the older v2 files
of OrganA/C/SMNIST, OrganMNIST3D and VesselMNIST3D differ by a few samples, which is why sizes
are informative and never checked).

Example:
    >>> info = flag_info("chestmnist")
    >>> info.task, info.n_channels, info.num_classes, info.ndim
    ('multi-label', 1, 14, 2)
    >>> flag_info("organmnist3d").sizes
    (28, 64)
    >>> file_name("pathmnist", 28), file_name("pathmnist", 224)
    ('pathmnist.npz', 'pathmnist_224.npz')
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FLAGS",
    "FLAGS_2D",
    "FLAGS_3D",
    "SIZES_2D",
    "SIZES_3D",
    "SPLITS",
    "TASKS",
    "MedMNISTInfo",
    "check_flag",
    "check_size",
    "file_keys",
    "file_name",
    "flag_info",
]

SPLITS = ("train", "val", "test")
SIZES_2D = (28, 64, 128, 224)
SIZES_3D = (28, 64)

TASKS = ("binary", "multi-class", "ordinal-regression", "multi-label")
"""Task types as the release names them (hermes treats ordinal regression as multi-class)."""

ZENODO_RECORD = "https://zenodo.org/records/10519652"


@dataclass(frozen=True)
class MedMNISTInfo:
    """What one MedMNIST flag holds.

    Attributes:
        flag: the dataset's name in the release (``"pathmnist"``).
        task: ``"binary"``, ``"multi-class"``, ``"ordinal-regression"`` or ``"multi-label"``.
        n_channels: image channels (1 gray, 3 RGB).
        label_names: the class (or, for multi-label, finding) names, in label order.
        n_samples: published ``{"train": ..., "val": ..., "test": ...}`` sizes (MedMNIST+).
        ndim: spatial dimensions, 2 (images) or 3 (volumes).
    """

    flag: str
    task: str
    n_channels: int
    label_names: tuple[str, ...]
    n_samples: dict[str, int]
    ndim: int = 2

    @property
    def num_classes(self) -> int:
        """Classes (multi-label: labels per sample)."""
        return len(self.label_names)

    @property
    def multilabel(self) -> bool:
        """Whether labels are ``(K,)`` 0/1 vectors rather than one class index."""
        return self.task == "multi-label"

    @property
    def sizes(self) -> tuple[int, ...]:
        """The image sizes released for this flag."""
        return SIZES_3D if self.ndim == 3 else SIZES_2D


_ORGANS = (
    "bladder",
    "femur-left",
    "femur-right",
    "heart",
    "kidney-left",
    "kidney-right",
    "liver",
    "lung-left",
    "lung-right",
    "pancreas",
    "spleen",
)


def _n(train: int, val: int, test: int) -> dict[str, int]:
    return {"train": train, "val": val, "test": test}


_TABLE = (
    MedMNISTInfo(
        "pathmnist",
        "multi-class",
        3,
        (
            "adipose",
            "background",
            "debris",
            "lymphocytes",
            "mucus",
            "smooth muscle",
            "normal colon mucosa",
            "cancer-associated stroma",
            "colorectal adenocarcinoma epithelium",
        ),
        _n(89996, 10004, 7180),
    ),
    MedMNISTInfo(
        "chestmnist",
        "multi-label",
        1,
        (
            "atelectasis",
            "cardiomegaly",
            "effusion",
            "infiltration",
            "mass",
            "nodule",
            "pneumonia",
            "pneumothorax",
            "consolidation",
            "edema",
            "emphysema",
            "fibrosis",
            "pleural",
            "hernia",
        ),
        _n(78468, 11219, 22433),
    ),
    MedMNISTInfo(
        "dermamnist",
        "multi-class",
        3,
        (
            "actinic keratoses and intraepithelial carcinoma",
            "basal cell carcinoma",
            "benign keratosis-like lesions",
            "dermatofibroma",
            "melanoma",
            "melanocytic nevi",
            "vascular lesions",
        ),
        _n(7007, 1003, 2005),
    ),
    MedMNISTInfo(
        "octmnist",
        "multi-class",
        1,
        ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal"),
        _n(97477, 10832, 1000),
    ),
    MedMNISTInfo("pneumoniamnist", "binary", 1, ("normal", "pneumonia"), _n(4708, 524, 624)),
    MedMNISTInfo(
        "retinamnist", "ordinal-regression", 3, ("0", "1", "2", "3", "4"), _n(1080, 120, 400)
    ),
    MedMNISTInfo("breastmnist", "binary", 1, ("malignant", "normal, benign"), _n(546, 78, 156)),
    MedMNISTInfo(
        "bloodmnist",
        "multi-class",
        3,
        (
            "basophil",
            "eosinophil",
            "erythroblast",
            "immature granulocytes(myelocytes, metamyelocytes and promyelocytes)",
            "lymphocyte",
            "monocyte",
            "neutrophil",
            "platelet",
        ),
        _n(11959, 1712, 3421),
    ),
    MedMNISTInfo(
        "tissuemnist",
        "multi-class",
        1,
        (
            "Collecting Duct, Connecting Tubule",
            "Distal Convoluted Tubule",
            "Glomerular endothelial cells",
            "Interstitial endothelial cells",
            "Leukocytes",
            "Podocytes",
            "Proximal Tubule Segments",
            "Thick Ascending Limb",
        ),
        _n(165466, 23640, 47280),
    ),
    MedMNISTInfo("organamnist", "multi-class", 1, _ORGANS, _n(34561, 6491, 17778)),
    MedMNISTInfo("organcmnist", "multi-class", 1, _ORGANS, _n(12975, 2392, 8216)),
    MedMNISTInfo("organsmnist", "multi-class", 1, _ORGANS, _n(13932, 2452, 8827)),
    MedMNISTInfo(
        "organmnist3d",
        "multi-class",
        1,
        (
            "liver",
            "kidney-right",
            "kidney-left",
            "femur-right",
            "femur-left",
            "bladder",
            "heart",
            "lung-right",
            "lung-left",
            "spleen",
            "pancreas",
        ),
        _n(971, 161, 610),
        ndim=3,
    ),
    MedMNISTInfo("nodulemnist3d", "binary", 1, ("benign", "malignant"), _n(1158, 165, 310), ndim=3),
    MedMNISTInfo(
        "adrenalmnist3d", "binary", 1, ("normal", "hyperplasia"), _n(1188, 98, 298), ndim=3
    ),
    MedMNISTInfo(
        "fracturemnist3d",
        "multi-class",
        1,
        ("buckle rib fracture", "nondisplaced rib fracture", "displaced rib fracture"),
        _n(1027, 103, 240),
        ndim=3,
    ),
    MedMNISTInfo("vesselmnist3d", "binary", 1, ("vessel", "aneurysm"), _n(1335, 191, 382), ndim=3),
    MedMNISTInfo(
        "synapsemnist3d",
        "binary",
        1,
        ("inhibitory synapse", "excitatory synapse"),
        _n(1230, 177, 352),
        ndim=3,
    ),
)

_BY_FLAG = {info.flag: info for info in _TABLE}
FLAGS: tuple[str, ...] = tuple(_BY_FLAG)
FLAGS_2D: tuple[str, ...] = tuple(f for f, i in _BY_FLAG.items() if i.ndim == 2)
FLAGS_3D: tuple[str, ...] = tuple(f for f, i in _BY_FLAG.items() if i.ndim == 3)


def check_flag(flag: Any) -> str:
    """Return ``flag`` (lower-cased) if it is a MedMNIST flag; else a ValueError with suggestions.

    Example:
        >>> check_flag("PathMNIST")
        'pathmnist'
        >>> check_flag("organmnist_3d")
        Traceback (most recent call last):
        ...
        ValueError: flag must be a MedMNIST dataset flag; got 'organmnist_3d' (did you mean 'organmnist3d'?). Known flags: ...
    """
    if not isinstance(flag, str):
        raise TypeError(f"flag must be a str naming a MedMNIST dataset; got {type(flag).__name__}")
    key = flag.lower()
    if key in _BY_FLAG:
        return key
    close = difflib.get_close_matches(key, FLAGS, n=3, cutoff=0.85)
    hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
    raise ValueError(
        f"flag must be a MedMNIST dataset flag; got {flag!r}{hint}. Known flags: {', '.join(FLAGS)}"
    )


def flag_info(flag: str) -> MedMNISTInfo:
    """The :class:`MedMNISTInfo` of a flag (checked with :func:`check_flag`)."""
    return _BY_FLAG[check_flag(flag)]


def check_size(size: Any, info: MedMNISTInfo) -> int:
    """Check an image size against the sizes released for ``info``'s flag.

    Example:
        >>> check_size(128, flag_info("nodulemnist3d"))
        Traceback (most recent call last):
        ...
        ValueError: size must be one of 28, 64 for the 3D flag 'nodulemnist3d'; got 128
    """
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"size must be an int (one of {info.sizes}); got {type(size).__name__}")
    if size not in info.sizes:
        kind = "3D" if info.ndim == 3 else "2D"
        raise ValueError(
            f"size must be one of {', '.join(map(str, info.sizes))} for the {kind} flag "
            f"{info.flag!r}; got {size}"
        )
    return size


def file_name(flag: str, size: int) -> str:
    """The release's file name: ``{flag}.npz`` at size 28, ``{flag}_{size}.npz`` otherwise."""
    return f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"


def file_keys(split: str) -> tuple[str, str]:
    """The ``.npz`` keys of a split's images and labels (``"test_images"``, ``"test_labels"``)."""
    return f"{split}_images", f"{split}_labels"

import copy
import pickle

import pytest
import torch
from torch import nn

from hermes._random import has_generators, seeded
from hermes.errors import RangeError, ShapeError
from hermes.models import Augmentation

OFF = {
    "hflip": 0,
    "vflip": 0,
    "rotation": 0,
    "brightness": 0,
    "contrast": 0,
    "saturation": 0,
    "hue": 0,
    "erasing": 0,
}


def images(n=8, size=32, seed=0, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    return 0.1 + 0.8 * torch.rand(n, 3, size, size, generator=generator, dtype=dtype)


def only(**stages):
    return Augmentation(**{**OFF, **stages}, seed=0)


def test_defaults_are_the_study_suite():
    augment = Augmentation()
    assert (augment.hflip, augment.vflip, augment.rotation) == (0.5, 0.5, 90.0)
    assert (augment.brightness, augment.contrast, augment.saturation, augment.hue) == (
        0.2,
        0.2,
        0.2,
        0.1,
    )
    assert (augment.erasing, augment.erasing_scale) == (0.5, (0.02, 0.2))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("fill", [None, 0.0, 1.0])
def test_output_keeps_shape_dtype_and_unit_range(dtype, fill):
    x = images(16, dtype=dtype) if fill is None else torch.full((16, 3, 24, 24), fill, dtype=dtype)
    augment = Augmentation(seed=1)
    for _ in range(3):
        y = augment(x)
        assert y.shape == x.shape and y.dtype == dtype
        assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_changes_the_images_and_never_the_input():
    x = images()
    before, version = x.clone(), x._version
    y = Augmentation(seed=0)(x)
    assert torch.equal(x, before) and x._version == version
    assert not torch.equal(y, x)


def test_same_seed_same_stream_and_different_seed_differs():
    x = images()
    a, b, c = Augmentation(seed=3), Augmentation(seed=3), Augmentation(seed=4)
    first_a, second_a = a(x), a(x)
    assert torch.equal(first_a, b(x)) and torch.equal(second_a, b(x))
    assert not torch.equal(first_a, second_a)
    assert not torch.equal(first_a, c(x))
    assert torch.equal(a.manual_seed(3)(x), first_a)


def test_leaves_the_global_rng_state_unchanged():
    state = torch.get_rng_state()
    Augmentation(seed=0)(images())
    Augmentation(seed=None)(images())
    assert torch.equal(torch.get_rng_state(), state)


def test_global_seed_does_not_change_the_result():
    x = images()
    torch.manual_seed(0)
    a = Augmentation(seed=9)(x)
    torch.manual_seed(1)
    b = Augmentation(seed=9)(x)
    assert torch.equal(a, b)


def test_copies_and_pickles_continue_the_same_stream():
    x = images()
    augment = Augmentation(seed=2)
    augment(x)
    twin, restored = copy.deepcopy(augment), pickle.loads(pickle.dumps(augment))
    expected = augment(x)
    assert torch.equal(twin(x), expected)
    assert torch.equal(restored(x), expected)


def test_certain_flips_are_exact_flips():
    x = images()
    torch.testing.assert_close(only(hflip=1.0)(x), x.flip(-1), rtol=0, atol=0)
    torch.testing.assert_close(only(vflip=1.0)(x), x.flip(-2), rtol=0, atol=0)
    torch.testing.assert_close(only(hflip=1.0, vflip=1.0)(x), x.flip(-1, -2), rtol=0, atol=0)


def test_every_stage_off_is_the_identity():
    x = images()
    assert torch.equal(only()(x), x)


def test_brightness_scales_each_image_by_a_factor_in_range():
    x = images(32) * 0.8  # at most 0.72, so a factor up to 1.2 never saturates
    ratio = only(brightness=0.2)(x) / x
    per_image = ratio.flatten(1)
    torch.testing.assert_close(per_image.amin(1), per_image.amax(1))
    assert float(per_image.min()) >= 0.8 - 1e-6 and float(per_image.max()) <= 1.2 + 1e-6
    assert float(per_image.std()) > 0.01  # factors differ between images


def test_rotation_keeps_the_centre_and_blackens_corners():
    x = torch.ones(32, 3, 33, 33)
    y = only(rotation=90.0)(x)
    torch.testing.assert_close(y[:, :, 12:21, 12:21], x[:, :, 12:21, 12:21])
    corners = y[:, :, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert float(corners.min()) == 0.0


def test_erasing_blanks_one_rectangle_of_the_configured_area():
    x = images(64, size=40)
    y = only(erasing=1.0, erasing_scale=(0.05, 0.1))(x)
    for image in y:
        erased = (image == 0).all(dim=0)
        rows, cols = erased.any(dim=1).nonzero(), erased.any(dim=0).nonzero()
        box = (int(rows.max() - rows.min()) + 1) * (int(cols.max() - cols.min()) + 1)
        assert int(erased.sum()) == box  # a filled rectangle
        assert 0.04 <= box / (40 * 40) <= 0.11
    kept = (y != 0).all(dim=1, keepdim=True)
    assert torch.equal(torch.where(kept, y, 0), torch.where(kept, x, 0))


def test_erasing_probability_is_respected():
    y = only(erasing=0.5)(images(400, size=16))
    erased = (y == 0).flatten(1).any(1).float().mean()
    assert 0.4 < float(erased) < 0.6


def test_empty_batch():
    assert Augmentation(seed=0)(torch.rand(0, 3, 8, 8)).shape == (0, 3, 8, 8)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"hflip": 1.5}, RangeError, "hflip"),
        ({"vflip": -0.1}, RangeError, "vflip"),
        ({"rotation": 270}, RangeError, "rotation"),
        ({"brightness": "0.2"}, TypeError, "brightness"),
        ({"hue": 0.7}, RangeError, "hue"),
        ({"erasing": 2}, RangeError, "erasing"),
        ({"erasing_scale": (0.3, 0.1)}, RangeError, "erasing_scale"),
        ({"erasing_scale": 0.1}, TypeError, "erasing_scale"),
        ({"seed": 1.5}, TypeError, "seed"),
        ({"seed": -1}, RangeError, "seed"),
        ({"generator": 1.5}, TypeError, "generator"),
        ({"seed": 1, "generator": 2}, ValueError, "not both"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        Augmentation(**kwargs)


def test_bad_images_are_rejected():
    augment = Augmentation(seed=0)
    with pytest.raises(RangeError, match=r"\[0, 1\]"):
        augment(torch.full((1, 3, 8, 8), 2.0))
    with pytest.raises(ShapeError):
        augment(torch.rand(3, 8, 8))


def test_randomness_lives_in_the_public_generator_attribute():
    x = images()
    stream = torch.Generator().manual_seed(3)
    shared = Augmentation(generator=stream)
    assert shared.generator is stream
    assert torch.equal(shared(x), Augmentation(seed=3)(x))  # the same stream as seed=3
    fixed = Augmentation(generator=5)  # an int: every call restarts from it
    assert torch.equal(fixed(x), fixed(x))
    assert not torch.equal(fixed(x), Augmentation(generator=6)(x))
    seeded = Augmentation(seed=3)
    assert isinstance(seeded.generator, torch.Generator) and seeded.generator.initial_seed() == 3
    assert has_generators(nn.Sequential(seeded))


def test_evaluation_style_seeding_reaches_the_augmentation():
    x = images()
    augment = Augmentation(seed=0)
    original = augment.generator
    with seeded(nn.Sequential(augment), 11):
        first = augment(x)
        assert torch.equal(augment(x), first)  # an int generator: the same draw every call
    assert augment.generator is original
    assert torch.equal(augment(x), Augmentation(seed=0)(x))  # its own stream, untouched
    with seeded(nn.Sequential(augment), 11):
        assert torch.equal(augment(x), first)  # the same seed again: the same augmentation


def test_a_generator_as_seed_is_deprecated_but_still_works():
    x = images()
    with pytest.warns(DeprecationWarning, match=r"Augmentation\(seed=<torch.Generator>\)"):
        legacy = Augmentation(seed=torch.Generator().manual_seed(3))
    assert torch.equal(legacy(x), Augmentation(seed=3)(x))
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="not both"):
        Augmentation(seed=torch.Generator(), generator=1)


def test_pickles_from_before_the_attribute_was_public_still_load():
    x = images()
    augment = Augmentation(seed=2)
    state = augment.__getstate__()
    saved = state.pop("generator")
    state["_generator"] = (saved.device, saved.state)  # the old layout
    old = Augmentation.__new__(Augmentation)
    old.__setstate__(state)
    assert torch.equal(old(x), augment(x))


def test_grayscale_images_get_brightness_and_contrast_but_no_saturation_or_hue():
    gray = images(16)[:, :1] * 0.8
    assert torch.equal(only(saturation=0.5, hue=0.3)(gray), gray)  # RGB-only stages skipped
    ratio = (only(brightness=0.2, saturation=0.5, hue=0.3)(gray) / gray).flatten(1)
    torch.testing.assert_close(ratio.amin(1), ratio.amax(1))
    assert float(ratio.min()) >= 0.8 - 1e-6 and float(ratio.max()) <= 1.2 + 1e-6
    rgb = images(4)
    torch.testing.assert_close(Augmentation(seed=3)(rgb), Augmentation(seed=3)(rgb))
    y = Augmentation(seed=3)(gray)  # the default suite runs on grayscale
    assert y.shape == gray.shape and float(y.min()) >= 0 and float(y.max()) <= 1


def test_volumes_get_3d_flips_and_rotation_only():
    v = torch.rand(4, 1, 6, 7, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(only(hflip=1.0)(v), v.flip(-1, -3), rtol=0, atol=0)
    torch.testing.assert_close(only(vflip=1.0)(v), v.flip(-2), rtol=0, atol=0)
    off_for_volumes = {"brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.1}
    assert torch.equal(only(**off_for_volumes, erasing=1.0)(v), v)
    rotated = only(rotation=90.0)(v)
    assert rotated.shape == v.shape and not torch.equal(rotated, v)
    assert torch.equal(Augmentation(seed=1)(v), Augmentation(seed=1)(v))

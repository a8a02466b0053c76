"""The one home of file writes and of the stored-settings check (hermes._files)."""

from __future__ import annotations

import math
import os

import pytest
import torch

from hermes._files import atomic_path, changed_keys, check_unchanged, same_value, write_atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"old")

    def fail(file) -> None:
        file.write(b"half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        write_atomic(path, fail)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_the_file_appears_only_when_complete_and_replaces_the_old_one(tmp_path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"old")
    with atomic_path(path) as partial:
        partial.write_bytes(b"new")
        assert partial.parent == tmp_path and partial.name.startswith(".data.bin.")
        assert path.read_bytes() == b"old"
    assert path.read_bytes() == b"new" and not partial.exists()


def test_permissions_are_those_of_a_plain_open(tmp_path) -> None:
    (tmp_path / "plain").write_bytes(b"")
    write_atomic(tmp_path / "atomic", b"")
    mode = (tmp_path / "plain").stat().st_mode & 0o777
    assert (tmp_path / "atomic").stat().st_mode & 0o777 == mode
    old = os.umask(0o077)
    try:
        write_atomic(tmp_path / "private", b"")
    finally:
        os.umask(old)
    assert (tmp_path / "private").stat().st_mode & 0o777 == 0o600


def test_a_missing_folder_is_an_error_not_a_stray_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "absent" / "f.bin", b"x")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (1, 1, True),
        (1, 1.0, False),
        (True, 1, False),
        (math.nan, math.nan, True),
        ([1, [2, math.nan]], [1, [2, math.nan]], True),
        ([1], (1,), False),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        (torch.tensor([1.0, math.nan]), torch.tensor([1.0, math.nan]), True),
        (torch.tensor([1.0]), torch.tensor([1.0], dtype=torch.float64), False),
        (torch.tensor([1.0]), [1.0], False),
    ],
)
def test_stored_values_compare_by_type_and_value(a, b, same: bool) -> None:
    assert same_value(a, b) is same and same_value(b, a) is same


def test_changes_name_each_key_with_both_values() -> None:
    stored = {"seed": 0, "data": "a", "epochs": 3}
    current = {"seed": 0, "data": "b", "lr": 0.1}
    assert changed_keys(stored, current) == ["data", "epochs", "lr"]
    message = "run: data 'a' \\(now 'b'\\), epochs 3 \\(now '\\(unset\\)'\\), lr '\\(unset\\)' \\(now 0.1\\); fix"
    with pytest.raises(ValueError, match=f"^{message}$"):
        check_unchanged(stored, current, "run", "fix")
    with pytest.raises(ValueError, match=r"^run \(changed: data, epochs, lr\); fix$"):
        check_unchanged(stored, current, "run", "fix", show_values=False)
    check_unchanged(stored, dict(stored), "run", "fix")  # nothing changed: no error

"""``hermes info``: versions, compute devices, and what an evaluation cache folder holds."""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import click

from hermes.cli._errors import ConfigError

__all__ = ["cache_summary", "environment", "info_command"]

_PACKAGES = ("torch", "torchvision", "kornia", "numpy", "scikit-learn", "h5py", "click")


def environment() -> dict[str, Any]:
    """Versions of hermes, Python and the main dependencies, and the devices torch sees.

    Example:
        >>> sorted(environment())
        ['devices', 'versions']
    """
    import torch

    from hermes.version import __version__

    versions = {"hermes": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    devices: dict[str, Any] = {"cpu": {"threads": torch.get_num_threads()}}
    if torch.cuda.is_available():
        devices["cuda"] = [
            {"index": i, "name": torch.cuda.get_device_name(i)}
            for i in range(torch.cuda.device_count())
        ]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices["mps"] = True
    return {"versions": versions, "devices": devices}


def cache_summary(folder: Path) -> dict[str, Any]:
    """What an ``evaluate_robustness`` ``cache_dir`` holds: its manifest and its unit files.

    Raises:
        ConfigError: ``folder`` does not exist or is not a folder.
    """
    if not folder.is_dir():
        raise ConfigError(f"--cache-dir {str(folder)!r} is not a folder")
    units = sorted(folder.glob("unit-*.pt"))
    summary: dict[str, Any] = {
        "folder": str(folder.resolve()),
        "unit_files": len(units),
        "unit_bytes": sum(p.stat().st_size for p in units),
    }
    path = folder / "manifest.json"
    if not path.exists():
        summary["manifest"] = None
        return summary
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        summary["manifest"] = f"damaged ({type(error).__name__}: {error})"
        return summary
    if not isinstance(manifest, dict):
        summary["manifest"] = f"damaged (a JSON {type(manifest).__name__}, not an object)"
        return summary
    shown = {}
    for key, value in manifest.items():
        shown[key] = list(value) if key == "defenses" and isinstance(value, dict) else value
    summary["manifest"] = shown
    return summary


def _lines(data: dict[str, Any], indent: str = "") -> list[str]:
    lines = []
    for key, value in data.items():
        if isinstance(value, dict) and value:
            lines += [f"{indent}{key}:", *_lines(value, indent + "  ")]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines.append(f"{indent}{key}:")
            lines += [f"{indent}  - " + ", ".join(f"{k}: {v}" for k, v in v.items()) for v in value]
        else:
            lines.append(f"{indent}{key}: {value}")
    return lines


@click.command("info")
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Also describe this evaluation cache: its manifest and how many unit files it holds.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def info_command(cache_dir: Path | None, as_json: bool) -> None:
    """Show hermes' and its dependencies' versions, the devices, and a cache folder's contents."""
    info = environment()
    if cache_dir is not None:
        info["cache"] = cache_summary(cache_dir)
    click.echo(json.dumps(info, indent=1) if as_json else "\n".join(_lines(info)))

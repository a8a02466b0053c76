"""The configs shown in docs/cli.md are valid: each resolves with ``--print-config``."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import invoke

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def _paths(config: dict, pcam_root: Path, checkpoint: Path, tmp_path: Path) -> dict:
    """Point the example's files at the test's (the values are the doc's own otherwise)."""
    if isinstance(config.get("model"), str):
        config["model"] = str(checkpoint)
    for key in ("data", "train_data", "val_data"):
        if key in config:
            config[key]["root"] = str(pcam_root)
    config["output"] = str(tmp_path / "out")
    return config


@pytest.mark.parametrize("language", ["toml", "yaml"])
def test_doc_configs_resolve(language, tmp_path, pcam_root, checkpoint):
    blocks = _blocks(language)
    assert blocks, f"docs/cli.md shows no {language} config"
    for i, text in enumerate(blocks):
        config = tomllib.loads(text) if language == "toml" else yaml.safe_load(text)
        command = "train" if "train_data" in config else "evaluate"
        path = tmp_path / f"{i}.yaml"
        path.write_text(yaml.safe_dump(_paths(config, pcam_root, checkpoint, tmp_path)))
        result = invoke(command, "-c", path, "--print-config")
        assert result.exit_code == 0, (i, result.output)

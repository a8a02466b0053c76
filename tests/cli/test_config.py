"""Config files and ``--set``: TOML and YAML read alike, overrides replace single keys."""

from __future__ import annotations

import pytest
import yaml

from hermes.cli._config import apply_overrides, load_config, parse_override
from hermes.cli._errors import ConfigError
from hermes.cli._schema import check_value, instantiate, parameters
from hermes.evaluation import AdaptiveSettings
from hermes.models import AdversarialTraining, fine_tune

from .conftest import invoke

TOML = """
model = "{checkpoint}"
output = "{output}"
epsilons = [0.0, 0.01]
threat_model = "adaptive"
sanity_eps = 0.5

[data]
root = "{root}"
limit = 8

[attacks.PGD]
steps = 2
norm = "inf"

[defenses."JPEG q50"]
type = "JPEG"
quality = 50

[adaptive]
gradient_modes = ["identity"]
apgd_steps = "none"
"""

YAML = """
model: {checkpoint}
output: {output}
epsilons: [0.0, 0.01]
threat_model: adaptive
sanity_eps: 0.5
data:
  root: {root}
  limit: 8
attacks:
  PGD: {{steps: 2, norm: inf}}
defenses:
  JPEG q50:
    type: JPEG
    quality: 50
adaptive:
  gradient_modes:
  - identity
  apgd_steps: null
"""


def _resolved(path, *overrides):
    result = invoke("evaluate", "-c", path, "--print-config", *overrides)
    assert result.exit_code == 0, result.output
    return yaml.safe_load(result.stdout)


@pytest.fixture
def both(tmp_path, pcam_root, checkpoint):
    values = {"checkpoint": checkpoint, "output": tmp_path / "out", "root": pcam_root}
    toml, yml = tmp_path / "c.toml", tmp_path / "c.yml"
    toml.write_text(TOML.format(**values))
    yml.write_text(YAML.format(**values))
    return toml, yml


def test_toml_and_yaml_give_the_same_config(both, pcam_root):
    from_toml, from_yaml = _resolved(both[0]), _resolved(both[1])
    assert from_toml == from_yaml
    # and it is what the files say, with the defaults filled in
    assert from_toml["attacks"]["PGD"] == {"type": "PGD", "steps": 2, "norm": "inf"}
    assert from_toml["defenses"]["JPEG q50"]["quality"] == 50
    assert from_toml["adaptive"] == {
        **AdaptiveSettings().describe(),
        "gradient_modes": ["identity"],
        "apgd_steps": None,
    }
    assert from_toml["data"]["root"] == str(pcam_root.resolve())
    assert from_toml["data"]["type"] == "PCam" and from_toml["data"]["split"] == "train"


def test_set_overrides_single_keys(both):
    resolved = _resolved(
        both[0],
        "--set",
        "epsilons=[0, 0.03]",
        "--set",
        "adaptive.eot_samples=8",
        "--set",
        'defenses."JPEG q50".quality=70',
        "--set",
        "attacks.PGD.norm=2",
        "--set",
        "cache_dir=null",
        "--set",
        "threat_model=both",
    )
    assert resolved["epsilons"] == [0, 0.03]
    assert resolved["adaptive"]["eot_samples"] == 8
    assert resolved["adaptive"]["gradient_modes"] == ["identity"]  # the rest of the table kept
    assert resolved["defenses"]["JPEG q50"]["quality"] == 70
    assert resolved["attacks"]["PGD"]["norm"] == 2
    assert resolved["cache_dir"] is None and resolved["threat_model"] == "both"
    untouched = _resolved(both[0])
    for key in ("model", "data", "sanity_eps", "batch_size"):
        assert resolved[key] == untouched[key]


def test_set_replaces_a_whole_table(both):
    resolved = _resolved(both[0], "--set", "adaptive={eot_samples = 2}")
    assert resolved["adaptive"] == {**AdaptiveSettings().describe(), "eot_samples": 2}


def test_resolved_adaptive_table_builds_the_settings(both):
    resolved = _resolved(both[0])
    settings = instantiate(check_value(resolved["adaptive"], AdaptiveSettings | None, "adaptive"))
    assert settings == AdaptiveSettings(gradient_modes=["identity"], apgd_steps=None)


@pytest.mark.parametrize(
    ("text", "path", "value"),
    [
        ("seed=1", ["seed"], 1),
        ("lr=1e-3", ["lr"], 1e-3),
        ("epsilons=[0, 0.01]", ["epsilons"], [0, 0.01]),
        ("augment=false", ["augment"], False),
        ("device=cuda:1", ["device"], "cuda:1"),
        ("threat_model=gray-box", ["threat_model"], "gray-box"),
        ("cache_dir=null", ["cache_dir"], None),
        ("name=yes", ["name"], "yes"),  # YAML 1.1's yes/no/on/off stay words
        ("a.b.c='x y'", ["a", "b", "c"], "x y"),
        ('defenses."TVM p0.3".steps=8', ["defenses", "TVM p0.3", "steps"], 8),
        ("adaptive={eot_samples = 8}", ["adaptive"], {"eot_samples": 8}),
    ],
)
def test_parse_override(text, path, value):
    assert parse_override(text) == (path, value)


def test_apply_overrides_does_not_touch_the_input():
    config = {"adaptive": {"eot_samples": 4}}
    assert apply_overrides(config, ["adaptive.eot_samples=8"]) == {"adaptive": {"eot_samples": 8}}
    assert config == {"adaptive": {"eot_samples": 4}}


def test_none_words_only_where_none_is_allowed():
    hint = parameters(fine_tune)["adversarial"].hint
    assert check_value("none", hint, "adversarial") is None
    assert check_value(None, hint, "adversarial") is None
    with pytest.raises(ConfigError, match="'lp_epochs' must be an integer; got the string 'none'"):
        check_value("none", parameters(fine_tune)["lp_epochs"].hint, "lp_epochs")


def test_dataclass_tables_are_checked_and_built():
    hint = parameters(fine_tune)["adversarial"].hint
    built = instantiate(check_value({"method": "fast", "eps": 0.03}, hint, "adversarial"))
    assert built == AdversarialTraining("fast", eps=0.03)
    with pytest.raises(ConfigError, match=r"missing key 'adversarial\.eps'"):
        check_value({"method": "pgd"}, hint, "adversarial")
    with pytest.raises(ConfigError, match=r"did you mean 'adversarial.beta'\?"):
        check_value({"method": "trades", "eps": 0.1, "betta": 1.0}, hint, "adversarial")
    with pytest.raises(ConfigError, match="adversarial: eps must be > 0"):
        instantiate(check_value({"method": "pgd", "eps": 0.0}, hint, "adversarial"))


def test_literal_choices_suggest_the_closest():
    hint = parameters(fine_tune)["protocol"].hint
    with pytest.raises(ConfigError, match=r"one of 'lp-ft', 'ft', 'lp'.*did you mean 'lp-ft'\?"):
        check_value("lpft", hint, "protocol")


def test_empty_yaml_is_an_empty_config(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n")
    assert load_config(path) == {}

"""README.md lists every configuration key with one line: the block is generated from the models
that validate the config (engine.reports.configref), and must match them."""

from __future__ import annotations

from engine.reports.configref import END, START, reference

from .runhelpers import ROOT


def test_the_readme_config_reference_is_current():
    text = (ROOT / "README.md").read_text()
    block = text[text.index(START): text.index(END) + len(END)]
    assert block == reference(), "regenerate it: python -m engine.reports.configref --write README.md"


def test_every_key_is_in_the_reference():
    block = reference()
    for key in ("paths.runs_dir", "run.cache", "run.suite_split", "governor.settle_s", "ramp.regrade.seed",
                "evaluators.local.install_at_base", "evaluators.docker.pids", "evaluators.completion.timeout_s",
                "agents.complete.templates", "agents.direct-edit.max_rounds", "agents.predictions.paths"):
        assert f"| `{key}` |" in block, key

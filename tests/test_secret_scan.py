"""No secret reaches disk or the screen: plant them everywhere a run can pick them up, then scan it all.

Two values are planted: one in the credentials file, one in a secret-named environment variable.
Both are written into a task's problem statement (which the agent puts in its prompt, and so in its
trajectory) and into the scripted model's replies; the bash agent also prints the credentials file
and its environment. The values are not shaped like API keys, so only the redactor's knowledge of
the credentials catches them. Then every file under the runs folder (the SQLite store and its -wal
and -shm included) and the captured stdout and stderr are searched byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from engine.datasets.bundled.builder import source_template
from engine.demo.script import scripts

from .agenthelpers import bundled, shared_cache
from .runhelpers import ramp

pytestmark = pytest.mark.slow

FILE_SECRET = "planted-credential-4f9c2a7e1b"
ENV_SECRET = "planted-environment-8d3e6b0c5a"
FAST = "PYTHONDONTWRITEBYTECODE=1 PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python -m pytest -rA -p no:cacheprovider {tests}"


def setup_files(tmp_path: Path) -> Path:
    """Credentials, a one-task dataset whose issue quotes the secrets, a catalog, and a config."""
    secrets = tmp_path / "credentials.txt"
    secrets.write_text(f"# planted for the scan\nSCAN_SERVICE_KEY={FILE_SECRET}\n")
    row = bundled()[0]["romans"].to_swebench_row()
    row["problem_statement"] += f"\nOur staging key is {FILE_SECRET} and the token is {ENV_SECRET}.\n"
    dataset = tmp_path / "tasks.jsonl"
    dataset.write_text(json.dumps(row) + "\n")
    fix = scripts()["ramp-bundled__romans-1"].edit[0]
    catalog = {"models": {
        "scan-edit": {"provider": "scripted", "options": {
            "replies": [f"The issue mentions {FILE_SECRET} and {ENV_SECRET}; ignoring them.\n\n{fix}"]}},
        "scan-bash": {"provider": "scripted", "options": {"replies": [
            f"Let me look around ({ENV_SECRET}).\n\n```bash\nenv; cat {secrets}; echo $SCAN_SERVICE_TOKEN\n```",
            f"Submitting; the key was {FILE_SECRET}.\n\n```bash\necho RAMP_SUBMIT\n```",
        ]}},
        # A patch that carries a secret and makes the tests under evaluation dump their environment
        # and the credentials file into the test log.
        "scan-leak": {"provider": "scripted", "options": {"replies": [
            "```bash\ncat > conftest.py <<'EOF'\nimport os\nimport pytest\n\n\n@pytest.fixture(autouse=True)\n"
            "def _dump():\n    print('ENV-DUMP', sorted(os.environ))\n"
            f"    print('FILE-DUMP', open({str(secrets)!r}).read())\n    print('CONST', {FILE_SECRET!r})\nEOF\n```",
            "```bash\necho RAMP_SUBMIT\n```",
        ]}},
    }}
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(catalog))
    config = {
        "paths": {"secrets_file": str(secrets), "models_file": str(tmp_path / "models.yaml")},
        "run": {"dataset": str(dataset), "repo_source": source_template(shared_cache())},
        "agents": {"direct-edit": {"test_command": FAST}},
        "ramp": {"gate": {"stop": []}},  # the verdict is not what this test is about
    }
    (tmp_path / "scan.yaml").write_text(yaml.safe_dump(config))
    return tmp_path / "scan.yaml"


def test_no_planted_secret_survives_a_run(tmp_path):
    config = setup_files(tmp_path)
    runs = tmp_path / "runs"
    captured = []
    for agent, model in (("direct-edit", "scan-edit"), ("bash", "scan-bash"), ("bash", "scan-leak")):
        out = ramp(["run", "-c", str(config), "--agent", agent, "--model", model, "--run-id", f"scan-{model}",
                    "--headless", "--json", "--runs-dir", str(runs)],
                   cache_dir=shared_cache(), SCAN_SERVICE_TOKEN=ENV_SECRET)
        assert out.returncode == 0, out.stderr[-3000:]
        captured += [out.stdout, out.stderr]

    files = [p for p in runs.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"ramp.sqlite", "trajectory.json", "patch.diff", "manifest.json", "predictions.jsonl"} <= names
    leaks = [str(p) for p in files for secret in (FILE_SECRET, ENV_SECRET) if secret.encode() in p.read_bytes()]
    leaks += [f"captured output {i}" for i, text in enumerate(captured) for s in (FILE_SECRET, ENV_SECRET) if s in text]
    assert leaks == []

    # The secrets did reach the writers, which redacted them: the scan looked where they would be.
    edit = (runs / "scan-scan-edit" / "attempts" / "ramp-bundled__romans-1.1" / "trajectory.json").read_text()
    assert edit.count("[REDACTED]") >= 4  # issue text in the prompt, twice in the reply
    shell = json.loads((runs / "scan-scan-bash" / "attempts" / "ramp-bundled__romans-1.1" / "trajectory.json").read_text())
    printed = shell["steps"][0]["observation"]
    assert "SCAN_SERVICE_KEY=[REDACTED]" in printed  # the credentials file, printed by the agent
    assert "PATH=" in printed and "SCAN_SERVICE_TOKEN=" not in printed  # env: not inherited by the sandbox

    # The tests under evaluation ran the agent's conftest: the log shows the dump, with the file's
    # secret redacted and no secret-named variable inherited from the engine's environment.
    leak = runs / "scan-scan-leak" / "attempts" / "ramp-bundled__romans-1.1"
    log = next(p for p in leak.iterdir() if p.name.startswith("test_output")).read_text()
    assert "ENV-DUMP" in log and "FILE-DUMP" in log and "SCAN_SERVICE_KEY=[REDACTED]" in log
    assert "SCAN_SERVICE_TOKEN" not in log and "CONST [REDACTED]" in log
    assert "[REDACTED]" in (leak / "patch.diff").read_text()

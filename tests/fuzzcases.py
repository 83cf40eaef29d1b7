"""A corpus of malformed input: configs, environment variables, flags, ids, model catalogs, credentials,
datasets and the patches inside them. Every case must end with exit code 2 and one message that names
where the problem is (the file, variable or flag, and the field), with no traceback, and nothing
written outside the runs folder.

A case is its files, its command line and environment, and the words its message must contain.
tests/test_fuzz.py runs every case; ``python benchmarks/chaos.py`` counts them.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

#: A catalog entry that would work, to break one field at a time.
GOOD_MODEL = {"provider": "openai-compatible", "base_url": "http://127.0.0.1:9/v1", "name": "m", "local": True}

#: A dataset row that would validate, to break one field at a time.
GOOD_ROW = {
    "repo": "octo/calc", "instance_id": "octo__calc-1", "base_commit": "a" * 40, "version": "1.0",
    "patch": "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n",
    "test_patch": "diff --git a/tests/test_calc.py b/tests/test_calc.py\n--- a/tests/test_calc.py\n"
                  "+++ b/tests/test_calc.py\n@@ -1 +1 @@\n-a = 1\n+a = 2\n",
    "problem_statement": "x is wrong", "FAIL_TO_PASS": '["tests/test_calc.py::test_x"]', "PASS_TO_PASS": "[]",
    "environment_setup_commit": "a" * 40, "created_at": "2024-01-01T00:00:00Z", "hints_text": "",
}


@dataclass
class Case:
    name: str
    argv: list[str]
    mentions: list[str]
    files: dict[str, str | bytes] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


def _run(*extra: str) -> list[str]:
    return ["run", "--headless", "--runs-dir", "runs", *extra]


def _config(name: str, text: str | bytes, *mentions: str) -> Case:
    return Case(f"config/{name}", _run("-c", "cfg.yaml"), ["cfg.yaml", *mentions], {"cfg.yaml": text})


def _catalog(name: str, models: object, *mentions: str, raw: str | bytes | None = None) -> Case:
    text = raw if raw is not None else json.dumps({"models": models} if not isinstance(models, str) else models)
    return Case(f"catalog/{name}", _run("--agent", "direct-edit", "--model", "m"), ["models.yaml", *mentions],
                {"models.yaml": text}, {"RAMP_PATHS__MODELS_FILE": "models.yaml"})


def _model(name: str, change: dict[str, object], *mentions: str, drop: str | None = None) -> Case:
    entry = {**GOOD_MODEL, **change}
    if drop:
        entry.pop(drop)
    return _catalog(name, {"m": entry}, *mentions)


def _credentials(name: str, text: str | bytes, *mentions: str) -> Case:
    return Case(f"credentials/{name}", _run("--instances", "ramp-bundled__romans-1"), ["creds.txt", *mentions],
                {"creds.txt": text}, {"RAMP_PATHS__SECRETS_FILE": "creds.txt"})


def _dataset(name: str, text: str | bytes, *mentions: str, suffix: str = "jsonl", refuse: bool = True) -> Case:
    env = {"RAMP_RUN__ON_MALFORMED": "refuse"} if refuse else {}
    return Case(f"dataset/{name}", _run("--dataset", f"rows.{suffix}"), [f"rows.{suffix}", *mentions],
                {f"rows.{suffix}": text}, env)


def _row(name: str, change: dict[str, object], *mentions: str, drop: str | None = None) -> Case:
    row = {**GOOD_ROW, **change}
    if drop:
        row.pop(drop)
    return _dataset(name, json.dumps(row) + "\n", *mentions)


def _flag(name: str, argv: list[str], *mentions: str) -> Case:
    return Case(f"flag/{name}", argv, list(mentions))


def _env(name: str, variable: str, value: str, *mentions: str) -> Case:
    return Case(f"env/{name}", _run(), [variable, *mentions], {}, {variable: value})


BOMB = "".join(
    f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join([f'*{chr(96 + i)}'] * 9) if i else ', '.join(['x'] * 9)}]\n"
    for i in range(7)
)

CASES: list[Case] = [
    # -- the config file ------------------------------------------------------------------------
    _config("yaml-syntax", "run: [unclosed\n", "not valid YAML", "line"),
    _config("tab-indent", "run:\n\tagent: gold\n", "not valid YAML"),
    _config("top-level-list", "- run\n- ramp\n", "mapping"),
    _config("top-level-scalar", "hello\n", "mapping"),
    _config("unknown-section", "bogus: 1\n", "bogus", "unknown key"),
    _config("misspelt-key", "run:\n  agnet: gold\n", "run.agnet", "did you mean 'agent'"),
    _config("attempts-zero", "run:\n  attempts: 0\n", "run.attempts", "greater than or equal to 1"),
    _config("attempts-word", "run:\n  attempts: many\n", "run.attempts", "integer"),
    _config("attempts-huge", "run:\n  attempts: 101\n", "run.attempts", "less than or equal to 100"),
    _config("limit-zero", "run:\n  limit: 0\n", "run.limit"),
    _config("policy", "run:\n  attempt_policy: sometimes\n", "run.attempt_policy", "until-resolved"),
    _config("sandbox", "run:\n  sandbox: cloud\n", "run.sandbox"),
    _config("on-malformed", "run:\n  on_malformed: ignore\n", "run.on_malformed", "refuse"),
    _config("budget-negative", "run:\n  budget_usd: -1\n", "run.budget_usd"),
    _config("retries-negative", "run:\n  max_retries: -1\n", "run.max_retries"),
    _config("concurrency-zero", "run:\n  agent_concurrency: 0\n", "run.agent_concurrency"),
    _config("backoff-negative", "run:\n  retry_backoff_s: -2\n", "run.retry_backoff_s"),
    _config("instances-not-list", "run:\n  instances: 7\n", "run.instances"),
    _config("steps-zero", "run:\n  budgets: {max_steps: 0}\n", "run.budgets.max_steps"),
    _config("wall-negative", "run:\n  budgets: {max_wall_s: -5}\n", "run.budgets.max_wall_s"),
    _config("budget-misspelt", "run:\n  budgets: {max_stepz: 3}\n", "run.budgets.max_stepz"),
    _config("cpu-over-one", "governor:\n  cpu_target: 1.5\n", "governor.cpu_target"),
    _config("cpu-zero", "governor:\n  cpu_target: 0\n", "governor.cpu_target"),
    _config("memory-negative", "governor:\n  min_free_memory_mb: -1\n", "governor.min_free_memory_mb"),
    _config("sample-zero", "governor:\n  sample_interval_s: 0\n", "governor.sample_interval_s"),
    _config("phases-decreasing", "ramp:\n  phases: [5, 3]\n", "ramp.phases", "strictly increase"),
    _config("phase-zero", "ramp:\n  phases: [0]\n", "ramp.phases"),
    _config("phase-word", "ramp:\n  phases: [five]\n", "ramp.phases"),
    _config("approval", "ramp:\n  approval: maybe\n", "ramp.approval", "manual"),
    _config("gate-metric", "ramp:\n  gate: {stop: ['bogus_metric > 1']}\n", "ramp.gate.stop", "unknown metric"),
    _config("gate-operator", "ramp:\n  gate: {stop: ['resolved_rate >>> 1']}\n", "ramp.gate.stop"),
    _config("gate-tier", "ramp:\n  gate: {never: []}\n", "ramp.gate.never"),
    _config("public-share", "ramp:\n  feedback: {public_share: 2}\n", "ramp.feedback.public_share"),
    _config("regrade-negative", "ramp:\n  regrade: {resolved: -0.5}\n", "ramp.regrade.resolved"),
    Case("config/runs-dir-list", ["run", "--headless", "-c", "cfg.yaml"], ["cfg.yaml", "paths.runs_dir"],
         {"cfg.yaml": "paths:\n  runs_dir: [1]\n"}),
    _config("section-scalar", "run: 5\n", "run"),
    _config("alias-bomb", BOMB, "anchors and aliases"),
    _config("utf16", "run:\n  agent: gold\n".encode("utf-16"), "UTF-16"),
    _config("latin1", "run:\n  agent: g\xf6ld\n".encode("latin-1"), "not UTF-8"),
    _config("evaluator-option", "evaluators:\n  local: {bogus: 1}\n", "evaluators.local.bogus"),
    _config("agent-option", "run: {agent: direct-edit, model: scripted-demo}\nagents:\n  direct-edit: {bogus: 1}\n",
            "agents.direct-edit.bogus"),
    _config("unknown-agent", "run:\n  agent: nobody\n", "nobody"),
    _config("unknown-evaluator", "run:\n  evaluator: nowhere\n", "nowhere"),
    _config("dataset-missing", "run:\n  dataset: absent.jsonl\n", "absent.jsonl"),
    Case("config/missing-file", _run("-c", "nope.yaml"), ["nope.yaml", "not found"]),
    Case("config/directory", _run("-c", "folder"), ["folder"], {"folder/x": ""}),
    Case("config/runs-dir-is-file", ["run", "--headless", "-c", "cfg.yaml"], ["cfg.yaml", "paths.runs_dir", "is a file"],
         {"cfg.yaml": "paths:\n  runs_dir: afile\n", "afile": "x"}),
    # -- environment variables ------------------------------------------------------------------------
    _env("attempts-word", "RAMP_RUN__ATTEMPTS", "zero", "run.attempts"),
    _env("cpu", "RAMP_GOVERNOR__CPU_TARGET", "2", "governor.cpu_target"),
    _env("unknown-key", "RAMP_RUN__BOGUS", "1", "run.bogus"),
    _env("phases", "RAMP_RAMP__PHASES", "[5, 2]", "ramp.phases"),
    _env("unknown-section", "RAMP_NOPE__X", "1", "nope"),
    Case("env/runs-dir-file", ["run", "--headless"], ["RAMP_RUNS_DIR", "is a file"], {"afile": "x"},
         {"RAMP_RUNS_DIR": "afile"}),
    # -- flags and ids --------------------------------------------------------------------------
    _flag("attempts-zero", _run("--attempts", "0"), "run.attempts"),
    _flag("phases-word", _run("--phases", "5,x"), "ramp.phases"),
    _flag("phases-decreasing", _run("--phases", "10,5"), "ramp.phases"),
    _flag("limit-zero", _run("--limit", "0"), "run.limit"),
    _flag("run-id-dots", _run("--run-id", ".."), "--run-id", "'..'"),
    _flag("run-id-dot", _run("--run-id", "."), "--run-id"),
    _flag("run-id-slash", _run("--run-id", "a/b"), "--run-id", "separator"),
    _flag("run-id-backslash", _run("--run-id", "a\\b"), "--run-id", "separator"),
    _flag("run-id-long", _run("--run-id", "x" * 5000), "--run-id", "5000 characters"),
    _flag("run-id-newline", _run("--run-id", "a\nb"), "--run-id", "control character"),
    _flag("run-id-nul-ish", _run("--run-id", "a\x7fb"), "--run-id", "control character"),
    _flag("status-run-id", ["status", "../x", "--runs-dir", "runs"], "RUN_ID", "separator"),
    _flag("ctl-run-id", ["ctl", "x" * 300, "pause", "--runs-dir", "runs"], "RUN_ID"),
    _flag("report-run-id", ["report", "..", "--runs-dir", "runs"], "RUN_ID"),
    _flag("unknown-instance", _run("--instances", "ramp-bundled__nope-1"), "unknown instance id", "ramp-bundled__nope-1"),
    _flag("unknown-model", _run("--agent", "direct-edit", "--model", "no-such-model"), "no-such-model"),
    _flag("model-needed", _run("--agent", "direct-edit"), "run.model", "--model"),
    _flag("unknown-evaluator", _run("--evaluator", "nowhere"), "nowhere"),
    _flag("ctl-rerun-without-id", ["ctl", "r1", "rerun", "--runs-dir", "runs"], "instance"),
    # -- the model catalog ------------------------------------------------------------------------
    _catalog("yaml-syntax", "", "not valid YAML", raw="models: {m: [\n"),
    _catalog("top-level-list", "", "mapping", raw="- m\n"),
    _catalog("unknown-top-key", {}, "nonsense", raw=json.dumps({"models": {"m": GOOD_MODEL}, "nonsense": 1})),
    _catalog("utf16", "", "UTF-16", raw=json.dumps({"models": {"m": GOOD_MODEL}}).encode("utf-16")),
    _model("unknown-provider", {"provider": "carrier-pigeon"}, "carrier-pigeon"),
    _model("no-provider", {}, "provider", drop="provider"),
    _model("price-negative", {"local": False, "price": {"input": -1, "output": 1}}, "price"),
    _model("price-half", {"local": False, "price": {"input": 1}}, "price.output"),
    _model("misspelt-key", {"prize": 1}, "prize"),
    _model("option-misspelt", {"options": {"strem": False}}, "options.strem", "stream"),
    _model("option-type", {"options": {"stream": "sometimes"}}, "options.stream"),
    _model("concurrency-zero", {"concurrency": 0}, "concurrency"),
    _model("retries-negative", {"retry": {"max_retries": -1}}, "retry.max_retries"),
    _model("read-timeout-zero", {"timeouts": {"read_s": 0}}, "timeouts.read_s"),
    _model("output-zero", {"max_output_tokens": 0}, "max_output_tokens"),
    # -- credentials ------------------------------------------------------------------------------
    _credentials("no-equals", "OPENROUTER_API_KEY sk-or-v1-abc\n", "line 1", "KEY=VALUE"),
    _credentials("bad-name", "1KEY=value\n", "line 1"),
    _credentials("second-line", "GOOD=1\nthis is not a pair\n", "line 2"),
    _credentials("latin1", "KEY=v\xe4lue\n".encode("latin-1"), "not UTF-8"),
    Case("credentials/directory", _run(), ["creds", "folder"], {"creds/x": ""}, {"RAMP_PATHS__SECRETS_FILE": "creds"}),
    # -- datasets, and the patches in their rows --------------------------------------------------
    Case("dataset/missing", _run("--dataset", "absent.jsonl"), ["absent.jsonl"]),
    _dataset("json-not-list", json.dumps(GOOD_ROW), "JSON list", suffix="json"),
    _dataset("json-invalid", "[{", "not valid JSON", suffix="json"),
    _dataset("jsonl-invalid-line", json.dumps(GOOD_ROW) + "\n{cut\n", "line 2", "not valid JSON"),
    _dataset("jsonl-not-object", "[1, 2]\n", "line 1"),
    _dataset("csv", "a,b\n", "rows.csv", suffix="csv"),
    _dataset("parquet-garbage", b"PAR1 not really", "parquet", suffix="parquet"),
    _dataset("utf16", (json.dumps(GOOD_ROW) + "\n").encode("utf-16"), "UTF-8"),
    _row("missing-test-patch", {}, "test_patch", drop="test_patch"),
    _row("missing-version", {}, "version", drop="version"),
    _row("id-traversal", {"instance_id": "../../escape"}, "instance_id", "separator"),
    _row("id-dots", {"instance_id": "a..b"}, "instance_id", "'..'"),
    _row("id-control", {"instance_id": "a\tb"}, "instance_id", "control character"),
    _row("id-long", {"instance_id": "i" * 300}, "instance_id", "300 characters"),
    _row("id-empty", {"instance_id": ""}, "instance_id"),
    _row("empty-fail-to-pass", {"FAIL_TO_PASS": "[]"}, "FAIL_TO_PASS", "is empty"),
    _row("fail-to-pass-not-list", {"FAIL_TO_PASS": "tests/x.py"}, "FAIL_TO_PASS", "JSON list"),
    _row("fail-to-pass-numbers", {"FAIL_TO_PASS": [1, 2]}, "FAIL_TO_PASS"),
    _row("repo-without-owner", {"repo": "calc"}, "repo"),
    _row("short-commit", {"base_commit": "abc"}, "base_commit"),
    _row("test-patch-not-diff", {"test_patch": "just some text\n"}, "test_patch", "not a unified diff"),
    _row("test-patch-escapes", {"test_patch": GOOD_ROW["test_patch"].replace("tests/test_calc.py", "../evil.py")},
         "test_patch", "outside the repository"),
    _row("test-patch-absolute", {"test_patch": GOOD_ROW["test_patch"].replace("a/tests/test_calc.py", "/etc/passwd")},
         "test_patch"),
    _row("patch-escapes", {"patch": GOOD_ROW["patch"].replace("calc.py", "../../evil.py")}, "patch", "outside"),
    _row("patch-into-git", {"patch": GOOD_ROW["patch"].replace("calc.py", ".git/hooks/pre-commit")}, "patch", ".git"),
    _dataset("duplicate-ids", json.dumps(GOOD_ROW) + "\n" + json.dumps(GOOD_ROW) + "\n", "line 2", "duplicate"),
    _dataset("all-bad-skipped", json.dumps({**GOOD_ROW, "FAIL_TO_PASS": "[]"}) + "\n", "no instances selected",
             "line 1", "FAIL_TO_PASS", refuse=False),
    Case("dataset/slice-missing", _run("--slice", "absent.yaml"), ["absent.yaml"]),
    Case("dataset/slice-invalid", _run("--slice", "slice.yaml"), ["slice.yaml"], {"slice.yaml": "instances: 5\n"}),
]


@dataclass
class Outcome:
    code: int
    stderr: str
    #: Files the case's command left outside the runs folder, beyond the case's own.
    strays: set[str]

    def problems(self, case: Case) -> list[str]:
        """Why this outcome is not a clean refusal of the case, if it is not."""
        out = []
        if self.code != 2:
            out.append(f"exit {self.code}")
        if not self.stderr.startswith("ramp: error: ") or "Traceback" in self.stderr or "internal error" in self.stderr:
            out.append("not one `ramp: error:` message")
        if missing := [m for m in case.mentions if m not in self.stderr]:
            out.append(f"the message does not name {missing}")
        if self.strays:
            out.append(f"wrote outside the runs folder: {sorted(self.strays)}")
        return out


def run_case(case: Case, where: Path, cache: Path) -> Outcome:
    """The case's command in-process, as `ramp` runs it, from a new folder ``where``, with only
    the case's RAMP_ variables (and a shared cache); the environment and directory are restored."""
    from engine import cli

    where.mkdir(parents=True)
    for name, content in case.files.items():
        path = where / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    own = {str(p.relative_to(where)) for p in where.rglob("*")}
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    for variable in [v for v in os.environ if v.startswith("RAMP_")]:
        del os.environ[variable]
    os.environ.update({"RAMP_PATHS__CACHE_DIR": str(cache), **case.env})
    stderr = io.StringIO()
    try:
        os.chdir(where)
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(case.argv)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    after = {str(p.relative_to(where)) for p in where.rglob("*") if p.relative_to(where).parts[0] != "runs"}
    return Outcome(code, stderr.getvalue(), after - own)

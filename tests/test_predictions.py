"""Bring your own agent, part one: a predictions file evaluated with the whole control room."""

from __future__ import annotations

import json

import pytest

from engine.agents.predictions import PredictionsAgent, PredictionsConfig, choose, read_predictions
from engine.core.errors import ConfigError
from tests.agenthelpers import bundled, shared_cache
from tests.runhelpers import db_rows, json_lines, ramp

MODEL = "swe-agent__claude-sonnet-4"


def _pred(iid: str, patch: str, model: str = MODEL) -> dict:
    return {"instance_id": iid, "model_name_or_path": model, "model_patch": patch}


# -- reading the formats ------------------------------------------------------------------------


def test_jsonl_json_list_and_preds_json_read_alike(tmp_path):
    rows = [_pred("a__x-1", "diff a"), _pred("b__y-2", "")]
    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    (tmp_path / "list.json").write_text(json.dumps(rows))
    (tmp_path / "preds.json").write_text(json.dumps({r["instance_id"]: r for r in rows}))
    for name in ("p.jsonl", "list.json", "preds.json"):
        model, by_id = choose(read_predictions([tmp_path / name]), None)
        assert model == MODEL and {i: p.patch for i, p in by_id.items()} == {"a__x-1": "diff a", "b__y-2": ""}


def test_a_folder_of_trajectories_imports_patch_model_and_trajectory(tmp_path):
    mini = {"info": {"submission": "diff --git a/x b/x\n", "exit_status": "Submitted"},
            "messages": [{"role": "user", "content": "fix it"}], "config": {"model": {"model_name": "gpt-5-mini"}}}
    swe = {"info": {"submission": "diff --git a/y b/y\n"}, "trajectory": [{"action": "ls"}],
           "config": {"model": {"name": "gpt-5-mini"}}}
    (tmp_path / "trajs" / "a__x-1").mkdir(parents=True)
    (tmp_path / "trajs" / "a__x-1" / "a__x-1.traj.json").write_text(json.dumps(mini))
    (tmp_path / "trajs" / "b__y-2.traj").write_text(json.dumps(swe))
    model, by_id = choose(read_predictions([tmp_path / "trajs"]), None)
    assert model == "gpt-5-mini" and set(by_id) == {"a__x-1", "b__y-2"}
    assert by_id["a__x-1"].trajectory["messages"][0]["content"] == "fix it"
    assert by_id["b__y-2"].patch == "diff --git a/y b/y\n"


@pytest.mark.parametrize("content, name, said", [
    ('{"instance_id": "a", "model_patch": "x"}\nnot json\n', "p.jsonl", "p.jsonl:2: not a JSON object"),
    ('{"instance_id": 7, "model_patch": "x"}\n', "p.jsonl", "p.jsonl:1: field 'instance_id' must be a string, got a int"),
    ('{"model_patch": "x"}\n', "p.jsonl", "p.jsonl:1: field 'instance_id' must be a string, got missing"),
    ('[{"instance_id": "a", "model_patch": 3}]', "p.json", "p.json[0]: field 'model_patch' must be a string, got a int"),
    ('{"a": {"instance_id": "b", "model_patch": ""}}', "preds.json", "instance_id 'b' disagrees with its key 'a'"),
    ('"just a string"', "p.json", "expected a list of predictions or an object keyed by instance id, got str"),
    ('{"a": 1', "p.json", "p.json:1: not JSON"),
])
def test_a_malformed_file_names_the_file_the_line_and_the_field(tmp_path, content, name, said):
    (tmp_path / name).write_text(content)
    with pytest.raises(ConfigError) as caught:
        read_predictions([tmp_path / name])
    assert said in str(caught.value) and str(tmp_path / name) in str(caught.value)


def test_predictions_files_are_decoded_like_every_operator_file(tmp_path):
    """A UTF-8 byte-order mark is accepted; UTF-16 is named with the fix, as for config files."""
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(_pred("a__x-1", "diff")).encode() + b"\n")
    assert set(choose(read_predictions([bom]), None)[1]) == {"a__x-1"}
    wide = tmp_path / "preds.json"
    wide.write_text(json.dumps([_pred("a__x-1", "diff")]), encoding="utf-16")
    with pytest.raises(ConfigError, match="not UTF-8 text: it is UTF-16.*save the file as UTF-8"):
        read_predictions([wide])


def test_several_models_are_refused_naming_them_and_the_flag_unless_one_is_picked(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(_pred("a", "x", "m1")) + "\n" + json.dumps(_pred("b", "y", "m2")) + "\n")
    with pytest.raises(ConfigError) as caught:
        PredictionsAgent(PredictionsConfig(paths=[path]))
    assert "m1, m2" in str(caught.value) and "--predictions-model" in str(caught.value)
    agent = PredictionsAgent(PredictionsConfig(paths=[path], model="m2"))
    assert agent.model_label == "m2" and agent.instance_ids == frozenset({"b"})
    with pytest.raises(ConfigError, match="no prediction is for model 'm3'"):
        PredictionsAgent(PredictionsConfig(paths=[path], model="m3"))


def test_an_instance_predicted_twice_and_no_files_are_refused(tmp_path):
    one, two = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    one.write_text(json.dumps(_pred("a", "x")) + "\n")
    two.write_text(json.dumps(_pred("a", "y")) + "\n")
    with pytest.raises(ConfigError, match="predicted twice: .*1.jsonl:1 and .*2.jsonl:1"):
        PredictionsAgent(PredictionsConfig(paths=[one, two]))
    with pytest.raises(ConfigError, match="--predictions PATH"):
        PredictionsAgent(PredictionsConfig())
    with pytest.raises(ConfigError, match="file not found"):
        PredictionsAgent(PredictionsConfig(paths=[tmp_path / "missing.json"]))


# -- a real run ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_swe_agent_preds_json_is_graded_and_its_model_labels_the_run(tmp_path):
    """Three gold patches and one garbage one for bundled tasks: three resolved, one
    malformed_patch; the dataset's other tasks are not run; the leaderboard names the model."""
    rows, _ = bundled()
    gold = ["romans", "iniparse", "slugkit"]
    preds = {rows[n].instance_id: _pred(rows[n].instance_id, rows[n].patch) for n in gold}
    preds[rows["wraptext"].instance_id] = _pred(rows["wraptext"].instance_id, "this is not a diff\n")
    preds["someone__else-1"] = _pred("someone__else-1", "diff")            # not in the dataset
    path = tmp_path / "preds.json"
    path.write_text(json.dumps(preds))
    runs = tmp_path / "runs"
    out = ramp(["run", "--dataset", "bundled", "--agent", "predictions", "--predictions", str(path),
                "--headless", "--json", "--runs-dir", str(runs), "--run-id", "byo-1"], cache_dir=shared_cache())
    events = json_lines(out.stdout)
    summary = events[-1]
    assert summary["kind"] == "summary", out.stderr[-3000:]
    assert summary["outcomes"] == {
        **{rows[n].instance_id: "resolved" for n in gold}, rows["wraptext"].instance_id: "unresolved",
    }
    attempts = {a["instance_id"]: a for a in db_rows(runs, "SELECT * FROM attempts WHERE run_id = 'byo-1'")}
    assert attempts[rows["wraptext"].instance_id]["error_class"] == "malformed_patch"
    assert summary["metrics"]["malformed_patch_rate"] == 0.25
    alerts = [e["message"] for e in events if e["kind"] == "alert"]
    assert any("have no prediction and are not run" in a for a in alerts)
    assert any("someone__else-1" in a for a in alerts)
    board = ramp(["leaderboard", "--runs-dir", str(runs), "--json"], cache_dir=shared_cache(), timeout=120)
    assert board.returncode == 0, board.stderr
    assert [r["model"] for r in json.loads(board.stdout)] == [MODEL]
    predictions = [json.loads(line) for line in (runs / "byo-1" / "predictions.jsonl").read_text().splitlines()]
    assert {p["model_name_or_path"] for p in predictions} == {MODEL}


@pytest.mark.slow
def test_asking_for_an_instance_without_a_prediction_is_a_usage_error(tmp_path):
    rows, _ = bundled()
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(_pred(rows["romans"].instance_id, rows["romans"].patch)) + "\n")
    out = ramp(["run", "--dataset", "bundled", "--predictions", str(path), "--headless",
                "--instances", rows["iniparse"].instance_id, "--runs-dir", str(tmp_path / "runs")],
               cache_dir=shared_cache(), timeout=120)
    assert out.returncode == 2, out.stderr
    assert f"no prediction for 1 instance(s) asked for: {rows['iniparse'].instance_id}" in out.stderr

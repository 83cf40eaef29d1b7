"""Loading and locking datasets, with real files, real `datasets` loads and real Lite rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.core.errors import DatasetError
from engine.datasets import (
    SWEInstance,
    content_sha256,
    lock_dataset,
    read_lock,
    resolve_dataset,
)
from engine.datasets.hub import LOCAL_DIR_ENV, parse_hub_spec

from .shareddata import lite_path

REPO_ROOT = Path(__file__).resolve().parents[1]
LITE = "princeton-nlp/SWE-bench_Lite"


def _row(instance_id: str, repo: str = "octo/widgets", **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "repo": repo,
        "instance_id": instance_id,
        "base_commit": "0123456789abcdef0123456789abcdef01234567",
        "patch": "diff --git a/w.py b/w.py\n",
        "test_patch": "diff --git a/tests/test_w.py b/tests/test_w.py\n",
        "problem_statement": "Widgets break.",
        "hints_text": "",
        "created_at": "2024-01-02T03:04:05Z",
        "version": "1.0",
        "FAIL_TO_PASS": json.dumps(["tests/test_w.py::test_new"]),
        "PASS_TO_PASS": json.dumps(["tests/test_w.py::test_old"]),
        "environment_setup_commit": "0123456789abcdef0123456789abcdef01234567",
    }
    row.update(changes)
    return row


def _write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def lite_dev() -> list[dict[str, Any]]:
    path = lite_path("dev")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def hf_root(tmp_path_factory: pytest.TempPathFactory, lite_dev: list[dict[str, Any]]) -> Path:
    """A local copy of princeton-nlp/SWE-bench_Lite in the Hub's own layout (dev split only)."""
    root = tmp_path_factory.mktemp("hf")
    data = root / LITE / "data"
    data.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(lite_dev), data / "dev-00000-of-00001.parquet")
    return root


@pytest.fixture(scope="module")
def hf_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ramp-cache")


# --- files ---------------------------------------------------------------------------------


def test_json_jsonl_and_parquet_give_the_same_rows(tmp_path: Path) -> None:
    rows = [_row(f"octo__widgets-{i}") for i in range(3)]
    as_lists = [
        {**r, "FAIL_TO_PASS": json.loads(r["FAIL_TO_PASS"]), "PASS_TO_PASS": json.loads(r["PASS_TO_PASS"])}
        for r in rows
    ]
    (tmp_path / "rows.json").write_text(json.dumps(as_lists), encoding="utf-8")
    _write_jsonl(tmp_path / "rows.jsonl", rows)
    pq.write_table(pa.Table.from_pylist(as_lists), tmp_path / "lists.parquet")
    pq.write_table(pa.Table.from_pylist(list(reversed(rows))), tmp_path / "strings.parquet")

    loaded = [
        resolve_dataset(str(tmp_path / name), lock_path=None, cache_dir=tmp_path)
        for name in ("rows.json", "rows.jsonl", "lists.parquet", "strings.parquet")
    ]
    assert {dataset.sha256 for dataset in loaded} == {content_sha256(loaded[0].rows)}
    for dataset in loaded:
        assert len(dataset.rows) == 3 and not dataset.problems and dataset.repo_source is None
        assert dataset.rows[0].FAIL_TO_PASS == ["tests/test_w.py::test_new"]
        assert dataset.rows[0].to_swebench_row()["PASS_TO_PASS"] == '["tests/test_w.py::test_old"]'


def test_real_lite_rows_load_from_jsonl(lite_dev: list[dict[str, Any]], tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "dev.jsonl", lite_dev)
    dataset = resolve_dataset(str(path), lock_path=None, cache_dir=tmp_path)
    assert len(dataset.rows) == len(lite_dev) == 23
    assert [row.to_swebench_row() for row in dataset.rows] == lite_dev


def _malformed_file(tmp_path: Path) -> Path:
    path = _write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            _row("octo__widgets-1"),
            _row("octo__widgets-2", FAIL_TO_PASS="tests/test_w.py::test_new"),
            _row("octo__widgets-3", base_commit=None),
            _row("octo__widgets-1"),
            ["not", "an", "object"],
        ],
    )
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"instance_id": "octo__widgets-9", \n')
    return path


def test_malformed_rows_are_skipped_and_reported(tmp_path: Path) -> None:
    path = _malformed_file(tmp_path)
    dataset = resolve_dataset(str(path), lock_path=None, cache_dir=tmp_path, on_malformed="skip")
    assert [row.instance_id for row in dataset.rows] == ["octo__widgets-1"]
    found = {(p.location, p.instance_id, p.field) for p in dataset.problems}
    assert found == {
        ("line 2", "octo__widgets-2", "FAIL_TO_PASS"),
        ("line 3", "octo__widgets-3", "base_commit"),
        ("line 4", "octo__widgets-1", "instance_id"),
        ("line 5", None, None),
        ("line 6", None, None),
    }
    by_line = {p.location: str(p) for p in dataset.problems}
    assert by_line["line 2"].startswith(f"{path} line 2 (instance octo__widgets-2): field FAIL_TO_PASS")
    assert "list of test names" in by_line["line 2"]
    assert "valid string" in by_line["line 3"]
    assert "duplicate of line 1" in by_line["line 4"]
    assert "got list" in by_line["line 5"]
    assert "not valid JSON" in by_line["line 6"]


def test_malformed_rows_are_refused_with_every_problem(tmp_path: Path) -> None:
    path = _malformed_file(tmp_path)
    with pytest.raises(DatasetError) as caught:
        resolve_dataset(str(path), lock_path=None, cache_dir=tmp_path, on_malformed="refuse")
    message = str(caught.value)
    assert message.startswith(f"{path}: 5 problem(s)")
    assert "line 2 (instance octo__widgets-2): field FAIL_TO_PASS" in message
    assert "line 4 (instance octo__widgets-1): field instance_id: duplicate" in message
    assert caught.value.exit_code == 2


def test_json_rows_are_located_by_row_number(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([_row("a__b-1"), _row("a__b-2", version=None)]), encoding="utf-8")
    dataset = resolve_dataset(str(path), lock_path=None, cache_dir=tmp_path)
    [problem] = dataset.problems
    assert (problem.location, problem.instance_id, problem.field) == ("row 2", "a__b-2", "version")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.jsonl", None, "no such dataset file"),
        ("broken.json", b"[{", "not valid JSON"),
        ("object.json", b'{"rows": []}', "expected a JSON list of rows"),
        ("broken.parquet", b"not parquet", "cannot read it as parquet"),
        ("latin1.jsonl", "{\"x\": \"caf\xe9\"}".encode("latin-1"), "UTF-8"),
    ],
)
def test_unusable_files_raise_naming_the_file(
    tmp_path: Path, name: str, content: bytes | None, expected: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DatasetError, match=expected) as caught:
        resolve_dataset(str(path), lock_path=None, cache_dir=tmp_path)
    assert str(caught.value).startswith(f"{path}: ")


@pytest.mark.parametrize("spec", ["nonsense", "rows.csv", "a/b/c"])
def test_unrecognised_specs_are_refused(
    tmp_path: Path, spec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "rows.csv").write_text("x\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match="cannot tell what dataset"):
        resolve_dataset(spec, lock_path=None, cache_dir=tmp_path)


def test_unknown_policy_is_refused(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "rows.jsonl", [_row("a__b-1")])
    with pytest.raises(DatasetError, match="unknown policy"):
        resolve_dataset(str(path), lock_path=None, cache_dir=tmp_path, on_malformed="ignore")  # type: ignore[arg-type]


def test_content_hash_ignores_row_order() -> None:
    rows = [SWEInstance.model_validate(_row(f"a__b-{i}")) for i in range(4)]
    assert content_sha256(rows) == content_sha256(list(reversed(rows)))
    assert content_sha256(rows) != content_sha256(rows[:3])


# --- the Hugging Face route and the lock -----------------------------------------------------


def test_hub_spec_defaults_to_the_test_split() -> None:
    assert parse_hub_spec(LITE) == (LITE, "test")
    assert parse_hub_spec(f"{LITE}:dev") == (LITE, "dev")
    with pytest.raises(DatasetError, match="not a Hugging Face dataset name"):
        parse_hub_spec("SWE-bench_Lite:dev")


def test_lock_then_resolve_through_a_local_copy(
    hf_root: Path, hf_cache: Path, tmp_path: Path, lite_dev: list[dict[str, Any]]
) -> None:
    lock_path = tmp_path / "config" / "dataset.lock"
    entry = lock_dataset(f"{LITE}:dev", lock_path, local_root=hf_root, cache_dir=hf_cache)
    expected_sha = content_sha256(SWEInstance.model_validate(row) for row in lite_dev)
    assert (entry.name, entry.split, entry.revision, entry.rows) == (LITE, "dev", "local", 23)
    assert entry.sha256 == expected_sha
    on_disk = json.loads(lock_path.read_text())
    assert on_disk["version"] == 1
    assert on_disk["datasets"][f"{LITE}:dev"]["sha256"] == expected_sha

    dataset = resolve_dataset(
        f"{LITE}:dev", lock_path=lock_path, cache_dir=hf_cache, local_root=hf_root
    )
    assert len(dataset.rows) == 23 and dataset.sha256 == expected_sha
    assert dataset.lock_entry == entry
    assert "local copy" in dataset.source


def test_local_copy_from_the_environment_and_relock_keeps_other_entries(
    hf_root: Path, hf_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LOCAL_DIR_ENV, str(hf_root))
    lock_path = tmp_path / "dataset.lock"
    lock_dataset(f"{LITE}:dev", lock_path, cache_dir=hf_cache)
    lock = read_lock(lock_path)
    other = lock.datasets[f"{LITE}:dev"].model_copy(update={"split": "test"})
    lock.datasets[other.key] = other
    lock_path.write_text(lock.model_dump_json())

    entry = lock_dataset(f"{LITE}:dev", lock_path, revision="5f6e1a2b", cache_dir=hf_cache)
    assert entry.revision == "5f6e1a2b"
    assert set(read_lock(lock_path).datasets) == {f"{LITE}:dev", f"{LITE}:test"}
    dataset = resolve_dataset(f"{LITE}:dev", lock_path=lock_path, cache_dir=hf_cache)
    assert dataset.lock_entry == entry


def test_changed_data_is_refused_against_the_lock(
    hf_root: Path, hf_cache: Path, tmp_path: Path, lite_dev: list[dict[str, Any]]
) -> None:
    lock_path = tmp_path / "dataset.lock"
    entry = lock_dataset(f"{LITE}:dev", lock_path, local_root=hf_root, cache_dir=hf_cache)
    tampered_root = tmp_path / "hf"
    data = tampered_root / LITE / "data"
    data.mkdir(parents=True)
    edited = [dict(row) for row in lite_dev]
    edited[3]["problem_statement"] += "\n(edited upstream)"
    pq.write_table(pa.Table.from_pylist(edited), data / "dev-00000-of-00001.parquet")

    with pytest.raises(DatasetError) as caught:
        resolve_dataset(
            f"{LITE}:dev", lock_path=lock_path, cache_dir=hf_cache, local_root=tampered_root
        )
    message = str(caught.value)
    assert message.startswith(f"{lock_path}: {LITE}:dev no longer matches its lock")
    assert f"expected 23 rows with sha256 {entry.sha256}" in message
    assert "got 23 rows with sha256 " in message
    assert f"re-run `ramp dataset lock {LITE}:dev`" in message


def test_a_tampered_lock_is_refused(hf_root: Path, hf_cache: Path, tmp_path: Path) -> None:
    lock_path = tmp_path / "dataset.lock"
    lock_dataset(f"{LITE}:dev", lock_path, local_root=hf_root, cache_dir=hf_cache)
    lock = read_lock(lock_path)
    entry = lock.datasets[f"{LITE}:dev"]
    lock.datasets[entry.key] = entry.model_copy(update={"rows": 22, "sha256": "0" * 64})
    lock_path.write_text(lock.model_dump_json())
    with pytest.raises(DatasetError, match="expected 22 rows with sha256 0000"):
        resolve_dataset(f"{LITE}:dev", lock_path=lock_path, cache_dir=hf_cache, local_root=hf_root)


def test_hub_datasets_need_a_pin(hf_root: Path, hf_cache: Path, tmp_path: Path) -> None:
    lock_path = tmp_path / "dataset.lock"
    with pytest.raises(DatasetError, match="no dataset lock; run `ramp dataset lock"):
        resolve_dataset(f"{LITE}:dev", lock_path=lock_path, cache_dir=hf_cache, local_root=hf_root)
    lock_dataset(f"{LITE}:dev", lock_path, local_root=hf_root, cache_dir=hf_cache)
    with pytest.raises(DatasetError, match=f"run `ramp dataset lock {LITE}:test` first"):
        resolve_dataset(LITE, lock_path=lock_path, cache_dir=hf_cache, local_root=hf_root)
    with pytest.raises(DatasetError, match="needs a dataset lock"):
        resolve_dataset(f"{LITE}:dev", lock_path=None, cache_dir=hf_cache, local_root=hf_root)


def test_local_pins_and_missing_copies_explain_the_fix(
    hf_root: Path, hf_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock_path = tmp_path / "dataset.lock"
    lock_dataset(f"{LITE}:dev", lock_path, local_root=hf_root, cache_dir=hf_cache)
    monkeypatch.delenv(LOCAL_DIR_ENV, raising=False)
    with pytest.raises(DatasetError, match=f"locked from a local copy.*set {LOCAL_DIR_ENV}"):
        resolve_dataset(f"{LITE}:dev", lock_path=lock_path, cache_dir=hf_cache)
    with pytest.raises(DatasetError, match=f"{LOCAL_DIR_ENV}=.* has no copy of {LITE}"):
        resolve_dataset(f"{LITE}:dev", lock_path=lock_path, cache_dir=hf_cache, local_root=tmp_path)


def test_offline_lock_without_revision_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(LOCAL_DIR_ENV, raising=False)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DatasetError, match="HF_DATASETS_OFFLINE or HF_HUB_OFFLINE is set"):
        lock_dataset(f"{LITE}:dev", tmp_path / "dataset.lock")
    assert not (tmp_path / "dataset.lock").exists()

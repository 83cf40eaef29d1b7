"""Instance selection: explicit ids, pinned slice files, and the nested repo-stratified order."""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import pytest

from engine.core.errors import DatasetError
from engine.datasets import SWEInstance, load_slice, resolve_dataset, select, stratified_order

from .shareddata import lite_path


def _instance(instance_id: str, repo: str) -> SWEInstance:
    return SWEInstance(
        instance_id=instance_id,
        repo=repo,
        base_commit="0123456789abcdef0123456789abcdef01234567",
        test_patch="diff --git a/tests/test_w.py b/tests/test_w.py\n",
        version="1.0",
        FAIL_TO_PASS=["tests/test_w.py::test_new"],
    )

#: Instances per repo in SWE-bench Lite's test split.
LITE_TEST_REPOS = {
    "django/django": 114,
    "sympy/sympy": 77,
    "scikit-learn/scikit-learn": 23,
    "matplotlib/matplotlib": 23,
    "pytest-dev/pytest": 17,
    "sphinx-doc/sphinx": 16,
    "astropy/astropy": 6,
    "psf/requests": 6,
    "pylint-dev/pylint": 6,
    "pydata/xarray": 5,
    "mwaskom/seaborn": 4,
    "pallets/flask": 3,
}


@pytest.fixture(scope="module")
def lite_shaped() -> list[SWEInstance]:
    return [
        _instance(f"{repo.replace('/', '__')}-{1000 + i}", repo)
        for repo, size in LITE_TEST_REPOS.items()
        for i in range(size)
    ]


def test_explicit_ids_keep_their_order(lite_shaped: list[SWEInstance]) -> None:
    ids = ["pallets__flask-1002", "django__django-1000", "pallets__flask-1002"]
    assert [row.instance_id for row in select(lite_shaped, ids=ids)] == ids[:2]
    assert [row.instance_id for row in select(lite_shaped, ids=ids, n=1)] == ids[:1]


def test_unknown_ids_are_named_with_suggestions(lite_shaped: list[SWEInstance]) -> None:
    with pytest.raises(DatasetError) as caught:
        select(lite_shaped, ids=["django__django-1000", "djagno__django-1001", "nope"])
    message = str(caught.value)
    assert "unknown instance id(s): djagno__django-1001 (did you mean django__django-1001" in message
    assert "; nope." in message


def test_slice_files_pin_the_order(lite_shaped: list[SWEInstance], tmp_path: Path) -> None:
    path = tmp_path / "smoke.yaml"
    path.write_text(
        "name: smoke\ndataset: princeton-nlp/SWE-bench_Lite\n"
        "instances: [psf__requests-1003, sympy__sympy-1010]\n"
    )
    assert load_slice(path).dataset == "princeton-nlp/SWE-bench_Lite"
    chosen = select(lite_shaped, slice_file=path)
    assert [row.instance_id for row in chosen] == ["psf__requests-1003", "sympy__sympy-1010"]
    with pytest.raises(DatasetError, match="not both"):
        select(lite_shaped, ids=["psf__requests-1003"], slice_file=path)

    path.write_text("name: smoke\ndataset: x\ninstances: [a__b-1, a__b-1]\n")
    with pytest.raises(DatasetError, match=f"{path}: instances: .*listed more than once: a__b-1"):
        load_slice(path)
    path.write_text("name: smoke\ninstances: [a__b-1]\n")
    with pytest.raises(DatasetError, match=f"{path}: dataset: Field required"):
        load_slice(path)
    path.write_text("name: smoke\ndataset: x\ninstances: [a__b-1]\n")
    with pytest.raises(DatasetError, match=f"{path}: instances: unknown instance id"):
        select(lite_shaped, slice_file=path)


def test_stratified_order_is_deterministic(lite_shaped: list[SWEInstance]) -> None:
    shuffled = list(lite_shaped)
    random.Random(5).shuffle(shuffled)
    first = [row.instance_id for row in stratified_order(lite_shaped, seed=3)]
    assert [row.instance_id for row in stratified_order(shuffled, seed=3)] == first
    assert [row.instance_id for row in stratified_order(lite_shaped, seed=4)] != first
    assert sorted(first) == sorted(row.instance_id for row in lite_shaped)


def test_phases_nest_and_every_prefix_is_proportional(lite_shaped: list[SWEInstance]) -> None:
    total = len(lite_shaped)
    phases = [select(lite_shaped, n=n, seed=11) for n in (5, 10, 30, 100, 300)]
    for smaller, larger in zip(phases, phases[1:], strict=False):
        assert larger[: len(smaller)] == smaller
    assert len(phases[-1]) == total == 300

    counts: Counter[str] = Counter()
    for n, row in enumerate(stratified_order(lite_shaped, seed=11), start=1):
        counts[row.repo] += 1
        for repo, size in LITE_TEST_REPOS.items():
            share = n * size / total
            assert math.floor(share) <= counts[repo] <= math.ceil(share), (n, repo)


def test_small_phases_spread_over_repos(lite_shaped: list[SWEInstance]) -> None:
    first_ten = Counter(row.repo for row in select(lite_shaped, n=10, seed=0))
    assert first_ten["django/django"] in (3, 4) and first_ten["sympy/sympy"] in (2, 3)
    assert sum(first_ten.values()) == 10


def test_selection_limits(lite_shaped: list[SWEInstance]) -> None:
    assert len(select(lite_shaped, n=1000)) == 300
    assert select(lite_shaped, n=0) == []
    with pytest.raises(DatasetError, match="cannot select -1"):
        select(lite_shaped, n=-1)


def test_real_lite_test_split_phases(tmp_path: Path) -> None:
    path = lite_path("test")
    rows = resolve_dataset(str(path), lock_path=None, cache_dir=tmp_path).rows
    assert Counter(row.repo for row in rows) == LITE_TEST_REPOS
    previous: list[SWEInstance] = []
    for n in (5, 10, 30, 100, 300):
        phase = select(rows, n=n, seed=2024)
        assert phase[: len(previous)] == previous
        counts = Counter(row.repo for row in phase)
        for repo, size in LITE_TEST_REPOS.items():
            assert math.floor(n * size / 300) <= counts[repo] <= math.ceil(n * size / 300)
        previous = phase

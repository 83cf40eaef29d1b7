"""Official image names and the registry check, which must fail fast and be asked only once."""

from __future__ import annotations

import json
import time

from engine.datasets.rows import SWEInstance
from engine.evaluators import prebuilt
from engine.evaluators.prebuilt import official_image, registry_answers

from .shareddata import lite_path


def test_official_image_is_swebench_s_name() -> None:
    row = SWEInstance.model_validate(json.loads(lite_path("dev").read_text().splitlines()[0]))
    assert official_image(row, "swebench") == (
        f"swebench/sweb.eval.x86_64.{row.instance_id.lower().replace('__', '_1776_')}:latest"
    )


async def test_unreachable_registry_is_decided_fast_and_cached() -> None:
    prebuilt._answers.pop("registry.invalid", None)
    started = time.monotonic()
    assert await registry_answers("registry.invalid", 2.0) is False
    assert time.monotonic() - started < 5
    started = time.monotonic()
    assert await registry_answers("registry.invalid", 2.0) is False
    assert time.monotonic() - started < 0.01

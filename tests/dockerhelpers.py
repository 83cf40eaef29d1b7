"""Shared pieces of the docker tests: skip with the reason when there is no daemon or base image.

The docker tests run against a real daemon and real containers. Images are cached by the daemon
under keys that do not depend on the test's cache folder, so every test (and every session) reuses
the environment images the first one built.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from engine.docker.base import DEFAULT_TAG
from engine.docker.client import LABEL_RUN, RAMP_FILTER
from engine.evaluators.base import EvalRequest
from engine.evaluators.docker import DockerEvaluator, DockerEvaluatorConfig


def docker_skip_reason() -> str | None:
    """Why the docker tests cannot run here, or None."""
    from engine.docker.client import DockerUnavailable, connect

    try:
        client = connect(timeout=10)
    except DockerUnavailable as exc:
        return str(exc)
    from docker.errors import ImageNotFound

    try:
        client.images.get(DEFAULT_TAG)
    except ImageNotFound:
        return f"base image {DEFAULT_TAG} missing: python -m engine.docker.base"
    return None


def docker_client() -> Any:
    """The daemon's client, or a skip naming why there is none."""
    reason = docker_skip_reason()
    if reason:
        pytest.skip(f"docker tests skipped: {reason}")
    from engine.docker.client import connect

    return connect()


def run_containers(client: Any, run_id: str) -> list[Any]:
    """What `docker ps -a --filter label=ramp.run=RUN_ID` shows."""
    return client.containers.list(
        all=True, sparse=True, filters={"label": [RAMP_FILTER, f"{LABEL_RUN}={run_id}"]}
    )


def docker_evaluator(cache: Path, source: str, **config: Any) -> DockerEvaluator:
    return DockerEvaluator(DockerEvaluatorConfig(**config), cache_dir=cache, repo_source=source)


def eval_request(instance: Any, patch: str | None, logs: Path, **kwargs: Any) -> EvalRequest:
    return EvalRequest(
        instance=instance, patch=patch, log_dir=logs / uuid.uuid4().hex[:8], **kwargs
    )

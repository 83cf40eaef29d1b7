"""The official prebuilt SWE-bench images, used when a registry answers.

The harness publishes one image per instance (``swebench/sweb.eval.x86_64.<id>:latest`` on Docker
Hub), named by swebench's own ``TestSpec.instance_image_key``, with the repository at base_commit
in /testbed and the conda environment ``testbed`` installed. When they can be had they are the
reference environment, so Ramp prefers them; on an offline host it builds its own instead.

Whether the registry answers is asked once, with a short timeout, and the answer is cached for the
process (a 300-instance run must not wait on a dead registry 300 times): ``GET /v2/`` answering 200
or 401 (the Registry API's "authenticate first") means the registry is there.
"""

from __future__ import annotations

import time

import httpx

from ..datasets.rows import SWEInstance
from .grading import make_test_spec

#: How the official images activate their environment.
ACTIVATE = "source /opt/miniconda3/bin/activate && conda activate testbed"
#: How long a registry answer is trusted.
PROBE_TTL_S = 600.0

_answers: dict[str, tuple[float, bool]] = {}


def official_image(instance: SWEInstance, namespace: str) -> str:
    """The official image of ``instance`` as swebench 4.1 names it."""
    spec = make_test_spec(instance)
    spec.namespace = namespace
    return spec.instance_image_key


async def registry_answers(registry: str, timeout_s: float) -> bool:
    """True when ``registry`` speaks the Registry API; cached per registry for PROBE_TTL_S."""
    cached = _answers.get(registry)
    if cached and time.monotonic() - cached[0] < PROBE_TTL_S:
        return cached[1]
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.get(f"https://{registry}/v2/")
        answer = response.status_code in (200, 401)
    except httpx.HTTPError:
        answer = False
    _answers[registry] = (time.monotonic(), answer)
    return answer

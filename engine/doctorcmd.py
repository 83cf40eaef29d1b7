"""``ramp doctor``: every check a run makes before it starts, printed (the same wiring as ``ramp
run``: host, evaluator, sandbox, model, and with ``--executor ray`` the cluster and what every node
lacks), and what ``ramp report`` needs; exit 3 when any fails.

The executor flags are defined here once, for ``ramp run`` and ``ramp doctor`` both.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import anyio

from .core.errors import ExitCode


def executor_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--executor", choices=["local", "ray"],
                        help="where evaluations and sandboxes run: this machine, or a Ray cluster")
    parser.add_argument("--ray-address", metavar="HOST:PORT", help="the Ray cluster's head (with --executor ray)")


def add_parser(sub: Any, config_arg: Callable[[Any], None], runs_dir_arg: Callable[[Any], None]) -> None:
    doctor = sub.add_parser("doctor", help="preflight: name anything missing")
    config_arg(doctor)
    doctor.add_argument("--dataset", help="also check what this dataset's instances need")
    doctor.add_argument("--evaluator", help="local | docker")
    doctor.add_argument("--model", help="also check this model's credentials and endpoint")
    doctor.add_argument("--repo-source", help="repo URL template, e.g. file:///mirrors/{owner}+{name}")
    executor_args(doctor)
    runs_dir_arg(doctor)


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {"run.dataset": args.dataset, "run.evaluator": args.evaluator, "run.model": args.model,
            "run.repo_source": args.repo_source, "run.executor": args.executor, "ray.address": args.ray_address}  # fmt: skip


def cmd_doctor(args: argparse.Namespace, settings: Any) -> int:
    from .models.factory import doctor_checks
    from .run.preflight import report_checks
    from .run.wiring import wire

    async def go() -> list[Any]:
        cluster: list[Any] = []
        if settings.run.executor == "ray":
            from .executors.ray import cluster_checks

            cluster = await cluster_checks(settings)
            if not all(c.ok for c in cluster):
                return cluster  # the rest would be asked of a cluster that is not there
        wiring = await wire(settings, "doctor")
        try:
            registry = _registry_check(settings, [i.instance_id for i in wiring.instances], wiring.evaluator.name)
            checks = await wiring.checks()
            return cluster + checks + report_checks() + await doctor_checks(settings) + registry
        finally:
            await wiring.aclose()

    checks = anyio.run(go)
    for check in checks:
        print(check.line())
    failed = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)} ok, {len(failed)} failed")
    return ExitCode.INFRA if failed else 0


def _registry_check(settings: Any, instance_ids: list[str], evaluator: str) -> list[Any]:
    """The validation registry's word on the selected instances (none before any `ramp validate`)."""
    from .results.validation import registry_check
    from .store import StoreReader

    path = settings.paths.runs_dir / "ramp.sqlite"
    if not path.exists():
        return []
    with StoreReader(path) as reader:
        return [registry_check(reader.validations(), instance_ids, evaluator)]

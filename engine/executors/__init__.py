"""Executors: where a run's evaluations and agent sandboxes run.

``local`` (the default) runs them on this machine, under the CPU governor. ``ray`` runs them on a
Ray cluster's nodes (engine.executors.ray); the scheduler, store, model calls and front ends stay in
this process either way. :func:`wrap` is the one place a run's backends are handed to an executor.
"""

from __future__ import annotations

from typing import Any


def wrap(settings: Any, run_id: str, repo_source: str, evaluator: Any, sandboxes: Any,
         family_evaluator: str = "") -> tuple[Any, Any, list[str]]:  # fmt: skip
    """The run's evaluator and sandbox factory as ``run.executor`` runs them, and notes for the
    operator. Joins the cluster (ConfigError naming ray.address when it cannot)."""
    if settings.run.executor == "local":
        return evaluator, sandboxes, []
    from .ray import RayEvaluator, RaySandboxFactory, connect, node_spec

    connect(settings)
    spec = node_spec(settings, repo_source, family_evaluator, run_id)
    notes = []
    if getattr(evaluator, "asks_model", False):
        notes.append(f"evaluator {evaluator.name} asks the run's model, whose calls stay on this machine: "
                     "its evaluations run here, not on the cluster")  # fmt: skip
    else:
        evaluator = RayEvaluator(evaluator, spec, settings.ray)
    if sandboxes.name != "none":
        sandboxes = RaySandboxFactory(sandboxes, spec, settings.ray)
    return evaluator, sandboxes, notes


def describe(settings: Any) -> dict[str, Any]:
    """The executor as a run's manifest records it: its kind, and for ray the cluster at the start."""
    if settings.run.executor == "local":
        return {"kind": "local"}
    from .ray import alive_nodes, connect

    ray = connect(settings)
    return {"kind": "ray", "address": settings.ray.address, "ray_version": ray.__version__,
            "eval_cpus": settings.ray.eval_cpus, "eval_memory_mb": settings.ray.eval_memory_mb,
            "nodes": [{"id": n["NodeID"], "address": n["NodeManagerAddress"],
                       "cpus": n.get("Resources", {}).get("CPU", 0)} for n in alive_nodes(ray)]}  # fmt: skip

"""Evaluators, by name. See base.Evaluator for the protocol."""

from ..registry import Registry

EVALUATORS = Registry(
    "evaluator",
    {
        "local": "engine.evaluators.local:LocalEvaluator",
        "swebench-local": "engine.evaluators.local:LocalEvaluator",
    },
)

"""Agents, by name. See base.Agent for the protocol."""

from ..core.registry import Registry

AGENTS = Registry(
    "agent",
    {
        "empty": "engine.agents.baseline:EmptyAgent",
        "gold": "engine.agents.baseline:GoldAgent",
        "direct-edit": "engine.agents.direct_edit:DirectEditAgent",
        "bash": "engine.agents.bash:BashAgent",
        "predictions": "engine.agents.predictions:PredictionsAgent",
        "command": "engine.agents.command:CommandAgent",
        "mini": "engine.agents.mini:MiniAgent",
        "complete": "engine.agents.complete:CompleteAgent",
    },
)

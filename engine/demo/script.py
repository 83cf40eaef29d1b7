"""The scripted model's side of the demo: a reply chosen by instance, purpose and turn.

Why a stateless callable rather than a list of replies: the demo runs several attempts at once and
the scheduler may retry one, so replies cannot be handed out in call order. :func:`respond` picks
the reply from the instance id in the call's context, the call's purpose (``edit`` for the
direct-edit agent, ``agent`` for the bash agent, ``judge``) and the number of replies the model has
already given in this conversation. The same conversation always gets the same reply.

The catalog entry ``scripted-demo`` (config/models.yaml) points the scripted provider here, so the
demo's model calls go through the same accounting as any other model's.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ..models.base import CallContext, Message

ANSWERS_DIR = Path(__file__).with_name("answers")

#: What the model says when its script has run out: not an edit, so the agent's format handling
#: (correction, then giving up) takes over, as it would with a real model that has nothing to add.
OUT_OF_SCRIPT = "I have nothing more to try."


class JudgeRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    when: str = Field(description="Regular expression searched in the judge's prompt (which holds the patch).")
    reply: str = Field(description="The verdict line when it matches: ACCEPT, or REJECT: reason.")


class TaskScript(BaseModel):
    """answers/<task>.yaml: what the scripted model answers on one bundled task."""

    model_config = ConfigDict(extra="forbid")

    instance_id: str = Field(description="The bundled instance these answers are for.")
    expect: Literal["first-try", "after-feedback", "never"] = Field(
        description="The story the answers tell, checked by the demo's tests against the real outcome."
    )
    edit: list[str] = Field(default_factory=list, description="direct-edit replies, one per turn.")
    judge: list[JudgeRule] = Field(
        default_factory=list, description="Judge verdicts; the first rule that matches answers, else ACCEPT."
    )
    bash: list[str] = Field(default_factory=list, description="bash agent replies, one per turn.")


@cache
def scripts() -> dict[str, TaskScript]:
    """Every task script, by instance id."""
    out = {}
    for path in sorted(ANSWERS_DIR.glob("*.yaml")):
        script = TaskScript.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        out[script.instance_id] = script
    return out


def respond(messages: list[Message], context: CallContext) -> str:
    """The scripted provider's callable (``options.callable: engine.demo.script:respond``)."""
    script = scripts().get(context.instance_id or "")
    if script is None:
        return OUT_OF_SCRIPT
    if context.purpose == "judge":
        prompt = next((m.content for m in reversed(messages) if m.role == "user"), "")
        return next((rule.reply for rule in script.judge if re.search(rule.when, prompt)), "ACCEPT")
    replies = {"edit": script.edit, "agent": script.bash}.get(context.purpose, [])
    turn = sum(1 for m in messages if m.role == "assistant")
    return replies[turn] if turn < len(replies) else OUT_OF_SCRIPT

"""The ``ramp`` command: engine's command line with the terminal UI handed in as its front end.

Why the entry point lives here: engine/ must not import the UI, so the UI wraps the engine's CLI
instead (engine.frontend describes the seam). ``ramp run`` and ``ramp demo`` on a terminal open the
app with the engine in-process; ``--headless``, ``--json`` or a redirected stdout keep the plain
displays; ``ramp watch RUN_ID`` attaches to a run any process is executing, or has finished.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

from engine.core import collector
from engine.core.errors import ExitCode


def resume_command(argv: list[str], run_id: str) -> str:
    """The command line that resumes a run: the same one (``ramp run`` or ``ramp demo``, with the
    same flags), naming the run."""
    again = argv if "--run-id" in argv else [*argv, "--run-id", run_id]
    return f"ramp {shlex.join(again)}"


class TextualFrontEnd:
    def run(self, settings: Any, run_id: str | None) -> int:
        from engine.run.wiring import new_run_id

        from .app import RampApp

        run_id = run_id or new_run_id(settings.run.agent)
        resume = resume_command(sys.argv[1:], run_id)
        app = RampApp(settings.paths.runs_dir, run_id, settings=settings, resume_command=resume)
        code = app.run()
        if app.engine_error:
            print(f"ramp: {app.engine_error}", file=sys.stderr)
        code = app.exit_code if code is None else code
        if code == ExitCode.INTERRUPTED:
            print(f"run {run_id} stopped; resume it with: {resume}")
        else:
            print(f"run {run_id} ended with exit code {code}; see it again with: ramp watch {run_id}")
        return code

    def serve(self, command: str, **options: Any) -> None:
        from .serve import serve

        serve(command, **options)

    def watch(self, settings: Any, run_id: str) -> int:
        from .app import RampApp

        RampApp(settings.paths.runs_dir, run_id).run()
        return 0


def main(argv: list[str] | None = None) -> int:
    """The ``ramp`` console script: the process ends when this returns. The engine is imported
    here, with Python's collector paused (see engine.core.collector; the command resumes it)."""
    collector.pause()
    from engine import cli as engine_cli

    return engine_cli.leaving(engine_cli.main(argv, front_end=TextualFrontEnd()))

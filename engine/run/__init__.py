"""The run layer: the scheduler, one attempt, the phase gate and its audits, the CPU governor, the
wiring that starts or resumes a run, and the display the engine reports through.

It reads backends (agents, sandboxes, evaluators, models, datasets) only through the protocols they
declare, and the store, results and core below it. Front ends (the ``ramp`` command, the TUI) sit above.
"""

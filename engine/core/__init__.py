"""The core every layer above shares: errors, events, the state machine, configuration, gate rules,
credentials and redaction, the run folder, subprocesses, and the backend registry.

Nothing here imports from the rest of the engine (the store sits directly above it); see
``[tool.importlinter]`` in pyproject.toml for the layers.
"""

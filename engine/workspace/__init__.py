"""Host-side workspace tools the sandboxes, evaluators and Docker helpers share: the repository
cache, owner-scoped scratch directories, file locks, and finding a Python interpreter.
"""

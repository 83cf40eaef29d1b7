"""Sandboxes, by name. See base.Sandbox for the protocol."""

from ..registry import Registry

SANDBOXES = Registry("sandbox", {"local": "engine.sandbox.local:LocalSandboxFactory"})

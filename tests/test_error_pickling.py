"""Errors cross process boundaries (a sandbox's error comes back from a Ray node pickled): every
AttemptError subclass must come back as itself, with its class, message and attributes."""

from __future__ import annotations

import pickle

import pytest

from engine.core.errors import AttemptError, InfraError, SourceIncomplete
from engine.docker.client import DockerUnavailable
from engine.models.base import ProviderError, SpendLimitReached


@pytest.mark.parametrize("error", [
    AttemptError("timeout", "ran past 60s"),
    InfraError("venv failed"),
    SourceIncomplete("blob abc missing"),
    DockerUnavailable("no daemon"),
    ProviderError("rate_limit", "429 from provider", retry_after=3.0, status=429),
    SpendLimitReached("run budget $1.00 reached"),
], ids=lambda e: type(e).__name__)
def test_attempt_errors_round_trip_through_pickle(error):
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert (back.error_class, str(back)) == (error.error_class, str(error))
    assert back.__dict__ == error.__dict__

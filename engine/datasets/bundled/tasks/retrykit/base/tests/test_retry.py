import pytest

from retrykit import delays, retry


class FakeClock:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def flaky(failures):
    """A function that raises ConnectionError ``failures`` times, then returns "ok"."""
    calls = []

    def func():
        calls.append(None)
        if len(calls) <= failures:
            raise ConnectionError("connection reset")
        return "ok"

    func.calls = calls
    return func


def test_returns_first_success():
    clock = FakeClock()
    assert retry(flaky(0), sleep=clock.sleep, clock=clock) == "ok"
    assert clock.sleeps == []


def test_retries_until_success():
    clock = FakeClock()
    assert retry(flaky(2), sleep=clock.sleep, clock=clock) == "ok"
    assert clock.sleeps == [0.1, 0.2]


def test_gives_up_after_retries():
    clock = FakeClock()
    func = flaky(10)
    with pytest.raises(ConnectionError):
        retry(func, retries=3, sleep=clock.sleep, clock=clock)
    assert len(func.calls) == 4


def test_other_exceptions_are_not_retried():
    clock = FakeClock()
    func = flaky(1)
    with pytest.raises(ConnectionError):
        retry(func, on=(KeyError,), sleep=clock.sleep, clock=clock)
    assert len(func.calls) == 1


def test_delays_are_capped():
    assert list(delays(4, base=1, max_delay=3)) == [1, 2, 3, 3]

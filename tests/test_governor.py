"""The governor admits evaluations against measured CPU, memory and disk floors."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from engine.core.config import GovernorConfig
from engine.run.governor import Governor, HostSample, host_sample


class Host:
    """A host whose readings the test sets (the real sampler is checked separately below)."""

    def __init__(self, cpu=0.0, mem=8000.0, disk=50000.0):
        self.reading = HostSample(cpu, mem, disk)

    def __call__(self) -> HostSample:
        return self.reading


def governor(host: Host, **cfg) -> Governor:
    config = GovernorConfig(sample_interval_s=0.05, settle_s=0, **cfg)
    return Governor(config, Path("/"), sampler=host, cores=4)


async def test_admits_while_cpu_under_target_and_holds_above():
    host = Host(cpu=10)
    gov = governor(host)  # target 0.8 * 4 = 3.2 cores
    started = []

    async def evaluation(i: int, hold: anyio.Event):
        async with gov.eval_slot():
            started.append(i)
            await hold.wait()

    hold = anyio.Event()
    async with anyio.create_task_group() as tg:
        for i in range(3):
            tg.start_soon(evaluation, i, hold)
        await anyio.sleep(0.2)
        assert len(started) == 3  # 10% CPU: plenty of room
        host.reading = HostSample(90, 8000, 50000)  # 3.6 busy cores >= 3.2
        gov.sample()
        gov.sample()
        tg.start_soon(evaluation, 3, hold)
        await anyio.sleep(0.3)
        assert len(started) == 3 and "CPU" in gov.snapshot().blocked_by
        host.reading = HostSample(20, 8000, 50000)
        for _ in range(4):
            gov.sample()
        await anyio.sleep(0.2)
        assert len(started) == 4
        hold.set()


async def test_memory_and_disk_floors_block_even_an_idle_host():
    host = Host(cpu=0, mem=100)
    gov = governor(host, min_free_memory_mb=1024)
    assert "memory" in gov._why_not()
    host.reading = HostSample(0, 4096, 10)
    gov.sample()
    assert "disk" in gov._why_not()
    host.reading = HostSample(0, 4096, 10**6)
    gov.sample()
    assert gov._why_not() == ""


async def test_a_busy_host_still_gets_one_evaluation_and_the_cap_holds():
    host = Host(cpu=100)
    gov = governor(host, max_concurrent_evals=2)
    gov.sample()
    assert gov._why_not() == ""  # nothing running: progress is guaranteed
    host.reading = HostSample(0, 8000, 50000)
    gov.sample()
    gov.sample()
    gov.sample()
    async with gov.eval_slot(), gov.eval_slot():
        assert "cap 2" in gov._why_not()


def test_real_host_sample_reads_sane_values(tmp_path):
    sample = host_sample(tmp_path / "not" / "yet")
    assert 0 <= sample.cpu_percent <= 100
    assert sample.memory_available_mb > 0 and sample.disk_free_mb > 0


async def peak_running(gov: Governor, jobs: int, hold_s: float) -> int:
    """Run ``jobs`` evaluations of ``hold_s`` seconds through ``gov`` while it samples every 0.05 s;
    the most that ran at once."""
    peak = 0
    stop = anyio.Event()

    async def sampler() -> None:
        while not stop.is_set():
            gov.sample()
            await anyio.sleep(0.05)

    async def evaluation() -> None:
        nonlocal peak
        async with gov.eval_slot():
            peak = max(peak, gov.snapshot().running)
            await anyio.sleep(hold_s)

    async with anyio.create_task_group() as tg:
        tg.start_soon(sampler)
        async with anyio.create_task_group() as lane:
            for _ in range(jobs):
                lane.start_soon(evaluation)
        stop.set()
    return peak


async def test_short_light_evaluations_do_not_serialise_behind_their_own_starts():
    """Each start counts as unseen load for settle_s, but only while that evaluation runs, and only
    as much as a running evaluation is measured to take: evaluations that barely use the CPU fill
    the lane to its cap instead of running one or two at a time."""
    gov = Governor(GovernorConfig(sample_interval_s=0.05, settle_s=5, max_concurrent_evals=4), Path("/"),
                   sampler=Host(cpu=5), cores=2)  # target 1.6 cores: two unseen whole cores would block
    assert await peak_running(gov, jobs=12, hold_s=0.4) == 4


def burning_governor() -> Governor:
    """A governor on two cores sampling every 0.05 s, whose host burns one core (50%) for each
    evaluation it has running."""
    governors: list[Governor] = []

    def burning() -> HostSample:
        running = governors[0].snapshot().running if governors else 0
        return HostSample(min(100.0, 50.0 * running), 8000, 50000)

    gov = Governor(GovernorConfig(sample_interval_s=0.05, settle_s=0.2, max_concurrent_evals=8), Path("/"),
                   sampler=burning, cores=2)
    governors.append(gov)
    return gov


async def test_cpu_bound_evaluations_still_hold_the_target():
    """Each running evaluation burns one of two cores: the measured share stays at a whole core, so a
    second starts only while one runs (1.0 busy core < 1.6), and never a third: the host is never
    oversubscribed, however long they have run."""
    assert await peak_running(burning_governor(), jobs=6, hold_s=0.3) == 2


async def test_a_freed_slot_admits_the_longest_waiting_first():
    gov = governor(Host(cpu=0), max_concurrent_evals=1)
    order: list[int] = []

    async def evaluation(i: int):
        async with gov.eval_slot():
            order.append(i)
            await anyio.sleep(0.05)

    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(evaluation, i)
            await anyio.sleep(0.01)  # queue in a known order
    assert order == [0, 1, 2, 3, 4] and gov.snapshot().waiting == 0


async def cpu_while_waiting(hold_s: float, work_s: float = 6.0) -> tuple[float, float]:
    """Evaluations of ``hold_s`` seconds that each burn one of two cores, ``work_s`` core-seconds in
    all, through a governor sampling every 0.05 s: the host's time-weighted CPU share while some
    waited, and how long they waited."""
    gov = burning_governor()
    busy = waited = 0.0  # core-seconds and seconds while evaluations waited
    stop = anyio.Event()

    async def sampler() -> None:
        nonlocal busy, waited
        last = anyio.current_time()
        while not stop.is_set():
            gov.sample()
            await anyio.sleep(0.05)
            now = anyio.current_time()
            if gov.snapshot().waiting:
                busy += min(2, gov.snapshot().running) * (now - last)
                waited += now - last
            last = now

    async def evaluation() -> None:
        async with gov.eval_slot():
            await anyio.sleep(hold_s)

    async with anyio.create_task_group() as tg:
        tg.start_soon(sampler)
        async with anyio.create_task_group() as lane:
            for _ in range(int(work_s / hold_s)):
                lane.start_soon(evaluation)
        stop.set()
    return busy / waited / 2, waited


@pytest.mark.parametrize("hold_s", [0.15, 0.6])
async def test_whole_core_evaluations_hold_the_target_as_a_mean(hold_s):
    """On two cores, evaluations that each burn a whole core give 50% or 100%: 80% is a mean, two
    running three fifths of the time. While evaluations wait, the time-weighted host CPU must come
    out at the target (within 5 points), whatever the length of the evaluations; without the CPU
    credit it came out at 51% for short ones and 89% for long ones."""
    share, waited = await cpu_while_waiting(hold_s)
    assert waited > 2
    assert abs(share - 0.8) <= 0.05, share

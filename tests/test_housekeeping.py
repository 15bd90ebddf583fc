"""Housekeeping: what it sweeps, and when a broker process runs it."""

from __future__ import annotations

from typing import Any

from broker.housekeeping import Schedule


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_schedule_is_due_first_after_one_interval_then_after_each(
) -> None:
    ticks, runs = Ticks(), []
    schedule = Schedule(60, lambda: runs.append(ticks.now), clock=ticks)
    schedule.run_if_due()
    ticks.now += 59
    schedule.run_if_due()
    assert runs == []
    ticks.now += 1
    schedule.run_if_due()
    schedule.run_if_due()
    ticks.now += 60
    schedule.run_if_due()
    assert runs == [1060.0, 1120.0]


def test_a_schedule_of_zero_never_runs() -> None:
    ticks, runs = Ticks(), []
    schedule = Schedule(0, lambda: runs.append(1), clock=ticks)
    ticks.now += 10**6
    schedule.run_if_due()
    assert runs == [] and not schedule.due()


def test_a_failing_sweep_is_logged_by_its_kind_and_tried_again_later(caplog: Any) -> None:
    ticks, calls = Ticks(), []

    def work() -> None:
        calls.append(1)
        raise RuntimeError("database 999993653 is gone")

    schedule = Schedule(60, work, clock=ticks)
    ticks.now += 60
    schedule.run_if_due()
    ticks.now += 60
    schedule.run_if_due()
    assert len(calls) == 2
    assert "housekeeping failed: RuntimeError" in caplog.text
    assert "999993653" not in caplog.text

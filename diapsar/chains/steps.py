"""The step machinery: one place for what every step of every chain does around its computation.

A :class:`Step` has a name, its declared outputs (files of the unit's folder), a parameter dict hashed for
resuming and a body that computes and writes the outputs (through :mod:`diapsar.io.raster`, atomically). Every
step is called the same way, ``step(ctx, unit) -> StepResult``, for the master unit and for pair units (and
later per burst, or by an executor that runs units in parallel). Calling a step:

1. skips it when ``.steps.json`` of the unit's folder records it with the same parameter hash and its outputs
   exist (log line ``<label>: <title> already done``; the step's ``resume`` hook then restores the in-memory
   hand-over fields of the unit from its outputs);
2. otherwise runs the body, times it, records the completion (parameters hash, outputs, seconds, the body's
   statistics) and logs ``<label>: <message> (<seconds> s)``.

Steps without outputs (``record=False``) always run and are only timed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..io.records import Steps
from ..log import get_logger
from .context import RunContext, Unit

log = get_logger("multislc")

Params = dict[str, Any]


@dataclass
class Outcome:
    """What a step body reports: the log message, statistics kept in the completion record, extra timings."""

    message: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StepResult:
    name: str
    outputs: tuple[str, ...]
    skipped: bool
    seconds: float
    stats: dict[str, Any]


def _no_params(ctx: RunContext, unit: Unit) -> Params:
    return {}


def _no_outputs(ctx: RunContext, unit: Unit) -> list[str]:
    return []


@dataclass(frozen=True)
class Step:
    """A step: ``body`` computes and writes ``outputs``; see the module docstring for what a call does."""

    name: str
    body: Callable[[RunContext, Unit], Outcome]
    outputs: Callable[[RunContext, Unit], Sequence[str]] = _no_outputs
    params: Callable[[RunContext, Unit], Params] = _no_params
    title: str = ""  # in log lines (default: the name)
    done_message: str = "already done"  # logged after the title when the step is skipped
    resume: Callable[[RunContext, Unit, dict[str, Any]], None] | None = None
    record: bool = True
    timing_key: str | None = None  # key of unit.timings (default: the name)

    def __call__(self, ctx: RunContext, unit: Unit) -> StepResult:
        return run_step(self, ctx, unit)


def run_step(step: Step, ctx: RunContext, unit: Unit) -> StepResult:
    title = step.title or step.name
    outputs = tuple(step.outputs(ctx, unit))
    key = step.timing_key or step.name
    if not step.record:
        t0 = time.perf_counter()
        outcome = step.body(ctx, unit)
        dt = time.perf_counter() - t0
        unit.timings[key] = round(dt, 3)
        unit.timings.update(outcome.timings)
        if outcome.message:
            log.info("%s: %s (%.1f s)", unit.label, outcome.message, dt)
        return StepResult(step.name, outputs, False, dt, outcome.stats)
    records = Steps(unit.folder)
    params = step.params(ctx, unit)
    if records.complete(step.name, params, outputs):
        rec = records.done[step.name]
        log.info("%s: %s %s", unit.label, title, step.done_message)
        if step.resume is not None:
            step.resume(ctx, unit, rec)
        return StepResult(step.name, outputs, True, 0.0, dict(rec.get("stats", {})))
    t0 = time.perf_counter()
    outcome = step.body(ctx, unit)
    dt = time.perf_counter() - t0
    unit.timings[key] = round(unit.timings.get(key, 0.0) + dt, 3)
    unit.timings.update(outcome.timings)
    extra = {"stats": outcome.stats} if outcome.stats else {}
    records.record(step.name, params, outputs, dt, **extra)
    log.info("%s: %s (%.1f s)", unit.label, outcome.message or f"{title} done", dt)
    return StepResult(step.name, outputs, False, dt, outcome.stats)

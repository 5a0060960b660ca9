"""Fan-out: 100, 500 and 1,000 live StreamEvents subscribers on one query-service process.

Each level runs at 100 events/s with one event per message (the default): at 500 and 1,000
subscribers that offers more messages than one process can send, and shows what overload does.
The per-event target is measured at a load the process can sustain: 1,000 subscribers offered
1.6x the single-stream rate, so delivering 1.5x of it is possible and latency must stay bounded.
The 1,000-subscriber level then runs with batched messages (max_batch_size) at 100 events/s,
where the target is the latency at the full offered load.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from bench import load, measure, stack, streams
from bench.context import Context
from bench.load import Window
from bench.model import Figure, SectionResult, Target
from bench.pool import split
from bench.processes import memory_kib
from bench.stats import Histogram

TITLE = "Fan-out: many live subscribers on one query service"
TARGET_SUBSCRIBERS = 1000
RATE_TARGET = Target("ratio", 1.5, ">= 1.5x single-stream rate")
P99_TARGET = {"p99": Target("at most", 250.0, "<= 250 ms")}
# The sustained level offers this multiple of the single-stream rate: the target's 1.5x, with room
# for the window's edges (a message offered near the end arrives after it).
SUSTAINED_OFFER = 1.6
# All subscribers live in one client process (asyncio, 20 connections). On two cores shared with
# the server, spreading 1,000 streams over four processes cost the clients about 70 us of CPU a
# message against 45 us in one (more busy threads, fewer completions per wake-up), which left the
# server less: 18,500 against 23,600 messages/s delivered at the same offered load (scratch runs).
SUBSCRIBER_PROCESSES = 1
CONNECTS_PER_SECOND = 200  # extra warm-up per subscriber, so every stream is open before the window
DRIVER_THREADS = 16  # enough that slow replies under load do not lower the offered 100/s


def run(ctx: Context, result: SectionResult) -> None:
    """Measures each subscriber level against a fresh stack's query service."""
    services = stack.start(ctx)
    try:
        plan = ctx.plan
        for subscribers in plan.fanout_levels:
            _level(ctx, result, services, subscribers, plan.fanout_rate)
        single = measure.reference(ctx.references, "stream_rate")
        if single is None:
            raise measure.MeasurementFailed("no single-stream rate to offer the sustained level against")
        sustained = SUSTAINED_OFFER * single / TARGET_SUBSCRIBERS
        _level(ctx, result, services, TARGET_SUBSCRIBERS, sustained, targets=True)
        _level(ctx, result, services, TARGET_SUBSCRIBERS, plan.fanout_rate, plan.fanout_batch, targets=True)
    finally:
        stack.stop(ctx, services)


def _sample_memory(pid: int, until: float, peak: list[int]) -> threading.Thread:
    def sample() -> None:
        while time.time() < until:
            peak[0] = max(peak[0], memory_kib(pid)["rss"])
            time.sleep(0.2)  # sampling memory, not synchronising

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    return thread


def _level(
    ctx: Context,
    result: SectionResult,
    services: stack.Stack,
    subscribers: int,
    rate: float,
    batch: int = 1,
    targets: bool = False,
) -> None:
    plan = ctx.plan
    # Batched: the same subscribers, each message carrying up to `batch` events.
    label = f"{subscribers:,} subscribers" + (f", batches of up to {batch}" if batch > 1 else "")
    if targets and batch == 1:
        label += f", offered {SUSTAINED_OFFER:g}x the single stream"
    window = Window.soon(plan.warmup + subscribers / CONNECTS_PER_SECOND, plan.duration)
    # Commands start one warm-up before the window, after the subscribers had time to connect to
    # an idle server: connecting is measured apart from delivering.
    commands = Window(window.begin - plan.warmup, plan.warmup, plan.duration)
    shares = split(subscribers, SUBSCRIBER_PROCESSES)
    tasks: list[Any] = [(streams.subscribe, (services.query.address, n, window, None, False, batch)) for n in shares]
    tasks += load.tasks("add_user", {"address": services.command.address}, DRIVER_THREADS, commands, 1, rate)
    idle = memory_kib(services.query.pid)["rss"]
    peak = [idle]
    sampler = _sample_memory(services.query.pid, window.end, peak)
    profile = ctx.profile(services.command, services.projector, services.query)
    timers = load.profiled(window, profile)
    parts = ctx.pool.run_tasks(tasks)
    for timer in timers:
        timer.join()
    sampler.join()
    driver = measure.checked(load.merge(parts[len(shares) :], plan.duration), f"AddUser at {rate:g}/s")
    hist, messages, frames, ready, errors, first_error = Histogram(), 0, 0, 0, 0, ""
    for part in parts[: len(shares)]:
        hist.merge(part["hist"])
        messages += part["messages"]
        frames += part["frames"]
        ready += part["ready_in_time"]
        errors += sum(part["errors"].values())
        first_error = first_error or part["first_error"]
    if not messages:
        raise measure.MeasurementFailed(f"{subscribers} subscribers received nothing: {first_error or 'no error'}")
    delivered = messages / plan.duration
    expected = subscribers * driver.rate
    result.figures.append(
        Figure(
            f"delivered to {label} at {driver.rate:.0f} events/s",
            delivered,
            "events/s" if batch > 1 else "messages/s",
            "single stream (faster stack)",
            measure.reference(ctx.references, "stream_rate"),
            RATE_TARGET if targets and batch == 1 else None,
            f"{delivered / expected:.0%} of {expected:,.0f}/s offered; {measure.latency_text(hist)}"
            + (f"; {messages / max(frames, 1):.1f} events per message" if batch > 1 else "")
            + (f"; {errors} streams failed: {first_error}" if errors else ""),
            profile.result,
        )
    )
    measure.latency_figures(
        result,
        f"delivery latency (record time -> subscriber), {label}",
        hist,
        P99_TARGET if targets else {},
        profile.result,
    )
    result.figures.append(
        Figure(
            f"subscribers open before the window, {label}",
            ready,
            "streams",
            target=Target("at least", subscribers, f"all {subscribers:,}") if targets else None,
        )
    )
    result.figures.append(
        Figure(
            f"query service peak resident memory, {label}",
            peak[0] / 1024,
            "MiB",
            detail=f"{idle / 1024:.0f} MiB before the subscribers connected",
        )
    )
    if batch == 1 and not targets:
        measure.record_throughput(result, "delivered messages/s", subscribers, delivered)

"""Propagation: from AddUser's reply to (a) the event on a StreamEvents subscriber, (b) GetUser seeing it."""

from __future__ import annotations

from typing import Any

from bench import load, measure, stack, streams
from bench.context import Context
from bench.load import Window
from bench.model import Figure, SectionResult, Target
from bench.stats import Histogram

TITLE = "Propagation: command reply to subscriber and to query"
STEADY_TARGETS = {"p50": Target("at most", 10.0, "<= 10 ms"), "p99": Target("at most", 50.0, "<= 50 ms")}
LOST_TARGET = Target("at most", 0.0, "none")
STEADY_CLIENTS = 16  # enough threads that a 200/s schedule never waits for a reply
GRACE = 3.0  # the subscriber keeps listening this long after the commands stop


def run(ctx: Context, result: SectionResult) -> None:
    """Measures at a steady rate with every command probed, then at full load with every n-th probed."""
    services = stack.start(ctx)
    try:
        plan = ctx.plan
        _measure(
            ctx,
            result,
            services,
            f"at {plan.steady_rate:.0f} commands/s",
            STEADY_CLIENTS,
            plan.steady_rate,
            1,
            STEADY_TARGETS,
        )
        _measure(
            ctx,
            result,
            services,
            f"at full load ({plan.full_load_clients} clients)",
            plan.full_load_clients,
            None,
            plan.probe_every_full,
            {},
        )
    finally:
        stack.stop(ctx, services)


def _measure(
    ctx: Context,
    result: SectionResult,
    services: stack.Stack,
    label: str,
    clients: int,
    rate: float | None,
    probe_every: int,
    targets: dict[str, Target],
) -> None:
    plan = ctx.plan
    window = Window.soon(plan.warmup, plan.duration)
    listening = Window(window.start_at, window.warmup, window.duration + GRACE)
    params = {"address": services.command.address, "query_address": services.query.address, "probe_every": probe_every}
    tasks: list[Any] = load.tasks("add_then_get", params, clients, window, plan.client_processes, rate, collect=True)
    tasks.append((streams.subscribe, (services.query.address, 1, listening, None, True)))
    profile = ctx.profile(services.command, services.projector, services.query)
    timers = load.profiled(window, profile)
    parts = ctx.pool.run_tasks(tasks)
    for timer in timers:
        timer.join()
    commands = measure.checked(load.merge(parts[:-1], plan.duration), f"AddUser {label}")
    subscriber = parts[-1]
    if subscriber["errors"]:
        raise measure.MeasurementFailed(f"the subscriber failed: {subscriber['first_error']}")
    arrivals = dict(subscriber["arrivals"])
    to_stream, to_query, replies, lost = Histogram(), Histogram(), Histogram(), 0
    for position, answered, seen, took in commands.records:
        replies.add(took)
        if position in arrivals:
            to_stream.add(arrivals[position] - answered)
        else:
            lost += 1
        if seen is not None:
            to_query.add(seen)
    errors = sum(commands.errors.values())
    result.figures.append(
        Figure(
            f"AddUser {label}",
            commands.rate,
            "commands/s",
            profile=profile.result,
            detail=measure.latency_text(replies) + (f"; {errors} calls failed" if errors else ""),
        )
    )
    if errors:
        result.notes.append(f"{label}: {errors} calls failed {commands.errors}, the first with {commands.first_error}")
    measure.record_latency(result, f"AddUser reply, {label}", replies)
    measure.latency_figures(
        result, f"(a) reply -> StreamEvents subscriber, {label}", to_stream, targets, profile.result
    )
    measure.latency_figures(
        result, f"(b) reply -> GetUser(min_position) answered, {label}", to_query, targets, profile.result
    )
    result.figures.append(
        Figure(
            f"(a) replied but not delivered within {GRACE:g} s, {label}",
            lost,
            "events",
            target=LOST_TARGET,
            detail=f"of {len(commands.records):,} commands",
        )
    )

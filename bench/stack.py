"""Starts the three services as separate processes on fresh databases of the bench's cluster."""

from __future__ import annotations

from dataclasses import dataclass

from bench.context import Context, require
from bench.processes import ServiceProcess


@dataclass
class Stack:
    """The running services and their databases."""

    command: ServiceProcess
    projector: ServiceProcess
    query: ServiceProcess
    event_store: str
    read_model: str


def start(ctx: Context, **extra_env: str) -> Stack:
    """Starts command service, projector (`run`) and query service; each is SERVING when this returns."""
    require("command_service", "projector_service", "query_service")
    event_store, read_model = ctx.database("es"), ctx.database("rm")
    env = ctx.service_env(event_store, read_model, **extra_env)
    command = ctx.start("command_service", env)
    projector = ctx.start("projector_service", env, "run")
    query = ctx.start("query_service", env)
    return Stack(command, projector, query, event_store, read_model)


def stop(ctx: Context, stack: Stack) -> None:
    """Stops the services and drops their databases."""
    ctx.stop(stack.query, stack.projector, stack.command)
    ctx.drop(stack.event_store)
    ctx.drop(stack.read_model)

"""Request bytes that do not decode answer INVALID_ARGUMENT naming the field, never INTERNAL or UNKNOWN.

gRPC Python turns a failing request deserializer into INTERNAL (sync server) or UNKNOWN with the
exception's text (grpc.aio). So every deserializer is wrapped at registration: a failure becomes an
`Undecodable` value carrying the error, and the wrapped behaviour answers it before the servicer runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from eventkit import errors, handlers, status

# protobuf's own nesting limit; deeper input is malformed for us too, and the walk stays bounded.
MAX_DEPTH = 100


class _Malformed(Exception):
    """The bytes are not protobuf wire format."""


class Undecodable:
    """What a wrapped deserializer returns instead of raising: the error the caller gets."""

    def __init__(self, error: errors.InvalidArgument) -> None:
        self.error = error


def _varint(data: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while i < len(data) and shift < 64:
        byte = data[i]
        result |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            return result, i
        shift += 7
    raise _Malformed


def _bad_string(descriptor: Descriptor, data: bytes, path: str, depth: int) -> str | None:
    """Returns the dotted path of the first string field (at any depth) whose bytes are not UTF-8."""
    if depth > MAX_DEPTH:
        raise _Malformed
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        wire_type = key & 7
        if wire_type == 0:
            _, i = _varint(data, i)
        elif wire_type in (1, 5):
            i += 8 if wire_type == 1 else 4
        elif wire_type == 2:
            length, i = _varint(data, i)
            chunk, i = data[i : i + length], i + length
            field = descriptor.fields_by_number.get(key >> 3)
            if field is None or i > len(data):
                continue
            name = f"{path}{field.name}"
            if field.type == FieldDescriptor.TYPE_STRING:
                try:
                    chunk.decode("utf-8")
                except UnicodeDecodeError:
                    return name
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                found = _bad_string(field.message_type, chunk, f"{name}.", depth + 1)
                if found:
                    return found
        else:
            raise _Malformed
        if i > len(data):
            raise _Malformed
    return None


def describe(descriptor: Descriptor, data: bytes) -> errors.InvalidArgument:
    """Returns the error for bytes that do not decode as `descriptor`: the bad field when one can be named."""
    try:
        field = _bad_string(descriptor, data, "", 0)
    except _Malformed:
        field = None
    if field:
        return errors.InvalidArgument(field, f"not valid UTF-8 (in a {descriptor.full_name})")
    return errors.InvalidArgument("request", f"the bytes are not a valid {descriptor.full_name}")


def _deserializer(original: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    descriptor = getattr(getattr(original, "__self__", None), "DESCRIPTOR", None)

    def deserialize(data: bytes) -> Any:
        try:
            return original(data)
        except Exception:
            if descriptor is None:
                return Undecodable(errors.InvalidArgument("request", "the bytes are not a valid message"))
            return Undecodable(describe(descriptor, data))

    return deserialize


def _checked(behavior: handlers.Behavior, kind: str) -> handlers.Behavior:
    if kind.startswith("stream_"):
        return _checked_stream(behavior)
    if handlers.is_async_generator(behavior):

        async def stream(request: Any, context: Any) -> Any:
            if isinstance(request, Undecodable):
                await _abort_async(context, request)
            async for item in behavior(request, context):
                yield item

        return stream
    if handlers.is_coroutine(behavior):

        async def unary(request: Any, context: Any) -> Any:
            if isinstance(request, Undecodable):
                await _abort_async(context, request)
            return await behavior(request, context)

        return unary

    def call(request: Any, context: grpc.ServicerContext) -> Any:
        if isinstance(request, Undecodable):
            context.abort_with_status(status.to_status(request.error))
        return behavior(request, context)

    return call


def _checked_stream(behavior: handlers.Behavior) -> handlers.Behavior:
    """Wraps a behaviour that reads a stream of requests: the first undecodable one ends the call."""
    if handlers.is_async_generator(behavior):

        async def stream(requests: AsyncIterator[Any], context: Any) -> Any:
            async for item in behavior(_items_async(requests, context), context):
                yield item

        return stream
    if handlers.is_coroutine(behavior):

        async def unary(requests: AsyncIterator[Any], context: Any) -> Any:
            return await behavior(_items_async(requests, context), context)

        return unary

    def items(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        for request in requests:
            if isinstance(request, Undecodable):
                context.abort_with_status(status.to_status(request.error))
            yield request

    return lambda requests, context: behavior(items(requests, context), context)


async def _items_async(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, Undecodable):
            await _abort_async(context, request)
        yield request


async def _abort_async(context: Any, request: Undecodable) -> None:
    answer = status.to_status(request.error)
    await context.abort(answer.code, answer.details, answer.trailing_metadata)


def checked(handler: Any) -> Any:
    """Returns `handler` with its request deserializer wrapped and its behaviour answering undecodable input."""
    if handler.request_deserializer is None:
        return handler
    return handlers.replace(handler, _checked, request_deserializer=_deserializer(handler.request_deserializer))


class Registrar:
    """Stands in for a server during `add_XServicer_to_server`, so every handler it registers is `checked`."""

    def __init__(self, server: grpc.Server | grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, generic_handlers: Any) -> None:
        self._server.add_generic_rpc_handlers(tuple(handlers.Generic(h, checked) for h in generic_handlers))

    def add_registered_method_handlers(self, service: str, method_handlers: dict[str, Any]) -> None:
        self._server.add_registered_method_handlers(service, {n: checked(h) for n, h in method_handlers.items()})

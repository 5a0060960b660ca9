"""Naming the field of a request whose bytes do not decode, without trusting those bytes."""

from __future__ import annotations

from google.protobuf import descriptor_pb2

from eventkit.decoding import describe
from users.v1 import command_service_pb2, query_service_pb2, resources_pb2


def test_invalid_utf8_names_the_string_field_and_the_message() -> None:
    error = describe(command_service_pb2.AddUserRequest.DESCRIPTOR, bytes.fromhex("0a02fffe"))
    assert (error.field, error.message) == ("name", "name: not valid UTF-8 (in a users.v1.AddUserRequest)")


def test_a_bad_field_after_good_ones_and_inside_a_nested_message_is_found() -> None:
    good = query_service_pb2.ListUsersRequest(page_size=3, page_token="ok").SerializeToString()
    assert describe(query_service_pb2.ListUsersRequest.DESCRIPTOR, good + bytes.fromhex("1a01ff")).field == (
        "name_prefix"
    )
    user = bytes.fromhex("1201ff")  # User.name (field 2) inside GetUserResponse.user (field 1)
    nested = bytes([0x0A, len(user)]) + user
    assert describe(query_service_pb2.GetUserResponse.DESCRIPTOR, nested).field == "user.name"
    assert resources_pb2.User.DESCRIPTOR.fields_by_number[2].name == "name"


def test_bytes_that_are_not_wire_format_name_the_request() -> None:
    for data in (bytes.fromhex("0aff"), bytes.fromhex("0a05ab"), bytes.fromhex("0f"), b"\xff" * 20):
        error = describe(command_service_pb2.AddUserRequest.DESCRIPTOR, data)
        assert error.field == "request" and "users.v1.AddUserRequest" in error.message


def test_deep_nesting_is_bounded_not_a_recursion_error() -> None:
    # DescriptorProto.nested_type (field 3) is a DescriptorProto: a message that can nest without end.
    payload = bytes.fromhex("0a01ff")  # DescriptorProto.name, not UTF-8, at the bottom
    for _ in range(5000):
        payload = bytes([0x1A]) + _varint(len(payload)) + payload
    error = describe(descriptor_pb2.DescriptorProto.DESCRIPTOR, payload)
    assert error.field == "request"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)

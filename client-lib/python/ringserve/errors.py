"""The client library's errors as exceptions: one class per rs_error code (ringserve.h).

Every exception raised for a failed library call is a RingserveError; its ``code`` is the
rs_error value and its message is rs_last_error_message() of the failed call (for example
"queue full: the waiting line of daemon 'demo' is full").
"""

from __future__ import annotations

# rs_error values (ringserve.h); they never change.
OK = 0
END_OF_STREAM = 1
DAEMON_NOT_RUNNING = 2
DAEMON_GONE = 3
VERSION_MISMATCH = 4
PERMISSION_DENIED = 5
QUEUE_FULL = 6
PROMPT_TOO_LONG = 7
INVALID_PARAMS = 8
EMPTY_PROMPT = 9
INVALID_UTF8 = 10
SHUTTING_DOWN = 11
TIMEOUT = 12
PROTOCOL_ERROR = 13
INVALID_ARGUMENT = 14
INTERNAL = 15
DAEMON_NOT_RESPONDING = 16


class RingserveError(Exception):
    """A failed ringserve call. ``code``: the rs_error value; ``message``: its text."""

    code = INTERNAL

    def __init__(self, message: str = "", code: int | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


class DaemonNotRunning(RingserveError):
    """No daemon of that name (or it never finished starting)."""

    code = DAEMON_NOT_RUNNING


class DaemonGone(RingserveError):
    """The daemon died while we were connected."""

    code = DAEMON_GONE


class VersionMismatch(RingserveError):
    """The daemon speaks another shared-memory layout version."""

    code = VERSION_MISMATCH


class PermissionDenied(RingserveError):
    """The daemon's segment exists but this user may not open it."""

    code = PERMISSION_DENIED


class QueueFull(RingserveError):
    """The waiting line (or every request slot) is full; retry later."""

    code = QUEUE_FULL


class PromptTooLong(RingserveError):
    code = PROMPT_TOO_LONG


class InvalidParams(RingserveError):
    """A generation parameter is out of range; the message names the field."""

    code = INVALID_PARAMS


class EmptyPrompt(RingserveError):
    code = EMPTY_PROMPT


class InvalidUtf8(RingserveError):
    code = INVALID_UTF8


class ShuttingDown(RingserveError):
    """The daemon is stopping and admits nothing."""

    code = SHUTTING_DOWN


class Timeout(RingserveError):
    """The request's queue or total deadline passed."""

    code = TIMEOUT


class ProtocolError(RingserveError):
    """The segment (or a token) held values no honest peer writes."""

    code = PROTOCOL_ERROR


class InvalidArgument(RingserveError):
    """A bad argument to the library itself (e.g. a bad daemon name)."""

    code = INVALID_ARGUMENT


class InternalError(RingserveError):
    code = INTERNAL


class DaemonNotResponding(RingserveError):
    """The daemon's process lives but has not looped for the client's daemon_timeout (stopped
    or hung). Raised by a stream, the stream goes on: iterate again once the daemon responds."""

    code = DAEMON_NOT_RESPONDING


class LibraryNotFound(ImportError):
    """libringserve_client.so could not be loaded from any of the places tried."""


_BY_CODE = {
    cls.code: cls
    for cls in (
        DaemonNotRunning,
        DaemonGone,
        VersionMismatch,
        PermissionDenied,
        QueueFull,
        PromptTooLong,
        InvalidParams,
        EmptyPrompt,
        InvalidUtf8,
        ShuttingDown,
        Timeout,
        ProtocolError,
        InvalidArgument,
        InternalError,
        DaemonNotResponding,
    )
}


def error_for(code: int, message: str) -> RingserveError:
    """The exception for rs_error ``code`` (an unknown code gives a RingserveError)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return RingserveError(message or f"unknown error code {code}", code)
    return cls(message)

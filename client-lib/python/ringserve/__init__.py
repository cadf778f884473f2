"""Python client of ringserve, the local LLM inference daemon (ctypes on the C ABI of
libringserve_client.so; standard library only).

    import ringserve

    with ringserve.Client("demo") as client:
        for piece in client.generate("Hello", max_tokens=32):
            print(piece, end="", flush=True)

The library is loaded on first use from $RINGSERVE_LIB, next to this package, the
repository's build/ directory, or the system loader (see ringserve._native.candidates).
"""

from ._native import library_path
from .aio import AsyncClient, AsyncStream
from .client import PARAMS, Client, DaemonStatus, KvCacheStatus, ModelInfo, Stream, Token
from .errors import (
    DaemonGone,
    DaemonNotResponding,
    DaemonNotRunning,
    EmptyPrompt,
    InternalError,
    InvalidArgument,
    InvalidParams,
    InvalidUtf8,
    LibraryNotFound,
    PermissionDenied,
    PromptTooLong,
    ProtocolError,
    QueueFull,
    RingserveError,
    ShuttingDown,
    Timeout,
    VersionMismatch,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "AsyncStream",
    "Client",
    "DaemonGone",
    "DaemonNotResponding",
    "DaemonNotRunning",
    "DaemonStatus",
    "EmptyPrompt",
    "InternalError",
    "InvalidArgument",
    "InvalidParams",
    "InvalidUtf8",
    "KvCacheStatus",
    "LibraryNotFound",
    "ModelInfo",
    "PARAMS",
    "PermissionDenied",
    "PromptTooLong",
    "ProtocolError",
    "QueueFull",
    "RingserveError",
    "ShuttingDown",
    "Stream",
    "Timeout",
    "Token",
    "VersionMismatch",
    "library_path",
]

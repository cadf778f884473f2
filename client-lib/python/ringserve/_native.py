"""ctypes bindings of the C ABI (client-lib/include/ringserve/ringserve.h), and the search for
libringserve_client.so.

The structures below mirror ringserve.h field by field; ctypes applies the platform's C
alignment rules, so the offsets match the compiler's (tests/python checks them against a C
program built from the header when a C compiler is present).

rs_last_error_message() is per thread: call() reads it on the calling thread right after the
failing call, so a failure is always reported with its own message.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from pathlib import Path

from . import errors

LIBRARY_NAME = "libringserve_client.so"
SONAME = "libringserve_client.so.0"
MAX_STOP_TOKENS = 8


class rs_params(ctypes.Structure):
    _fields_ = [
        ("max_tokens", ctypes.c_uint32),
        ("temperature", ctypes.c_float),
        ("top_p", ctypes.c_float),
        ("min_p", ctypes.c_float),
        ("repetition_penalty", ctypes.c_float),
        ("top_k", ctypes.c_int32),
        ("seed", ctypes.c_uint64),
        ("priority", ctypes.c_int32),
        ("queue_timeout_ms", ctypes.c_uint32),
        ("total_timeout_ms", ctypes.c_uint32),
        ("stop_token_count", ctypes.c_uint32),
        ("stop_token_ids", ctypes.c_int32 * MAX_STOP_TOKENS),
        ("stop", ctypes.POINTER(ctypes.c_char_p)),  # const char* const*
        ("stop_count", ctypes.c_size_t),
    ]


class rs_connect_options(ctypes.Structure):
    _fields_ = [
        ("ready_timeout_ms", ctypes.c_int64),
        ("wait_mode", ctypes.c_char_p),
        ("daemon_timeout_ms", ctypes.c_int64),
        ("daemon_uid", ctypes.c_int64),
    ]


class rs_message(ctypes.Structure):
    _fields_ = [
        ("role", ctypes.c_char_p),
        # c_void_p, not c_char_p: the content is given by length and may hold NUL bytes.
        ("content", ctypes.c_void_p),
        ("content_length", ctypes.c_size_t),
    ]


class rs_token(ctypes.Structure):
    _fields_ = [
        ("id", ctypes.c_int32),
        ("text", ctypes.c_void_p),  # not NUL-terminated: read text_length bytes
        ("text_length", ctypes.c_size_t),
        ("published_ns", ctypes.c_uint64),
    ]


class rs_tokens(ctypes.Structure):
    _fields_ = [
        ("ids", ctypes.POINTER(ctypes.c_int32)),
        ("count", ctypes.c_size_t),
        ("text", ctypes.c_void_p),  # the pieces back to back
        ("piece_offsets", ctypes.POINTER(ctypes.c_size_t)),  # count + 1
    ]


# rs_tokenize's flags (ringserve.h).
TOKENIZE_ADD_SPECIAL = 1


class rs_daemon_status(ctypes.Structure):
    _fields_ = [
        ("pid", ctypes.c_int32),
        ("slots", ctypes.c_uint32),
        ("slots_in_use", ctypes.c_uint32),
        ("max_concurrent", ctypes.c_uint32),
        ("max_queue", ctypes.c_uint32),
        ("running", ctypes.c_uint32),
        ("waiting", ctypes.c_uint32),
        ("received", ctypes.c_uint64),
        ("admitted", ctypes.c_uint64),
        ("rejected", ctypes.c_uint64),
        ("completed", ctypes.c_uint64),
        ("cancelled", ctypes.c_uint64),
        ("failed", ctypes.c_uint64),
        ("tokens_generated", ctypes.c_uint64),
    ]


MODEL_NAME_BYTES = 16
MODEL_PATH_BYTES = 512


class rs_model_info(ctypes.Structure):
    _fields_ = [
        ("path", ctypes.c_char * MODEL_PATH_BYTES),
        ("architecture", ctypes.c_char * MODEL_NAME_BYTES),
        ("format", ctypes.c_char * MODEL_NAME_BYTES),
        ("device", ctypes.c_char * MODEL_NAME_BYTES),
        ("context_length", ctypes.c_uint32),
        ("weight_bytes", ctypes.c_uint64),
        ("kv_cache_bytes", ctypes.c_uint64),
        ("resident_bytes", ctypes.c_uint64),
    ]


class rs_kv_cache_status(ctypes.Structure):
    _fields_ = [
        ("block_positions", ctypes.c_uint32),
        ("blocks_total", ctypes.c_uint32),
        ("blocks_in_use", ctypes.c_uint32),
        ("blocks_cached", ctypes.c_uint32),
        ("prompt_tokens", ctypes.c_uint64),
        ("prompt_tokens_cached", ctypes.c_uint64),
        ("preemptions", ctypes.c_uint64),
    ]


# rs_finish_reason values (ringserve.h) -> the Python names (rs_finish_reason_name's).
FINISH_NONE = 0
FINISH_REASONS = {
    1: "stop",
    2: "length",
    3: "cancelled",
    4: "error",
    5: "timeout",
    6: "rejected",
}

_handle_out = ctypes.POINTER(ctypes.c_void_p)  # rs_client** / rs_stream**

# name: (restype, argtypes)
_SIGNATURES = {
    "rs_params_init": (None, [ctypes.POINTER(rs_params)]),
    "rs_connect_ex": (
        ctypes.c_int,
        [ctypes.c_char_p, ctypes.c_int64, ctypes.c_char_p, _handle_out],
    ),
    "rs_connect_options_init": (None, [ctypes.POINTER(rs_connect_options)]),
    "rs_connect_with": (
        ctypes.c_int,
        [ctypes.c_char_p, ctypes.POINTER(rs_connect_options), _handle_out],
    ),
    "rs_disconnect": (None, [ctypes.c_void_p]),
    "rs_generate": (
        ctypes.c_int,
        [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(rs_params), _handle_out],
    ),
    "rs_chat": (
        ctypes.c_int,
        [
            ctypes.c_void_p,
            ctypes.POINTER(rs_message),
            ctypes.c_size_t,
            ctypes.POINTER(rs_params),
            _handle_out,
        ],
    ),
    "rs_stream_next": (
        ctypes.c_int,
        [ctypes.c_void_p, ctypes.c_int64, ctypes.POINTER(rs_token)],
    ),
    "rs_stream_cancel": (None, [ctypes.c_void_p]),
    "rs_stream_finish_reason": (ctypes.c_int, [ctypes.c_void_p]),
    "rs_stream_close": (None, [ctypes.c_void_p]),
    "rs_stream_prompt_tokens": (
        ctypes.c_int,
        [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_uint32)],
    ),
    "rs_tokenize": (
        ctypes.c_int,
        [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32,
         ctypes.POINTER(rs_tokens)],
    ),
    "rs_tokenize_chat": (
        ctypes.c_int,
        [ctypes.c_void_p, ctypes.POINTER(rs_message), ctypes.c_size_t, ctypes.c_uint32,
         ctypes.POINTER(rs_tokens)],
    ),
    "rs_tokens_free": (None, [ctypes.POINTER(rs_tokens)]),
    "rs_detokenize": (
        ctypes.c_int,
        [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t,
         ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t)],
    ),
    "rs_free": (None, [ctypes.c_void_p]),
    "rs_status": (ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(rs_daemon_status)]),
    "rs_model": (ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(rs_model_info)]),
    "rs_kv_cache": (ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(rs_kv_cache_status)]),
    "rs_error_name": (ctypes.c_char_p, [ctypes.c_int]),
    "rs_finish_reason_name": (ctypes.c_char_p, [ctypes.c_int]),
    "rs_last_error_message": (ctypes.c_char_p, []),
}


def candidates() -> list[tuple[str, str]]:
    """The places to look for the library, in order, as (description, path or name).

    1. $RINGSERVE_LIB (a file, or a directory holding libringserve_client.so);
    2. next to the package: ringserve/ and the directory above it;
    3. where `cmake --install` put the library, when it installed this package too (its
       generated _install_layout.py names the directory);
    4. the repository's build/ directory, found relative to the package
       (client-lib/python/ringserve -> <repo>/build);
    5. the system loader (ctypes.util.find_library, then the soname): a library in the
       system's directories, or any that ldconfig or LD_LIBRARY_PATH make known, e.g. for a
       package installed with pip.
    """
    out: list[tuple[str, str]] = []
    env = os.environ.get("RINGSERVE_LIB")
    if env:
        path = Path(env)
        if path.is_dir():
            path = path / LIBRARY_NAME
        out.append(("$RINGSERVE_LIB", str(path)))
        return out  # an explicit choice is not second-guessed
    package = Path(__file__).resolve().parent
    for directory in (package, package.parent):
        out.append(("next to the package", str(directory / LIBRARY_NAME)))
    try:
        from . import _install_layout  # type: ignore[attr-defined]  # written by cmake --install
    except ImportError:
        pass
    else:
        out.append(("the installed library directory",
                    str(Path(_install_layout.LIBRARY_DIR) / LIBRARY_NAME)))
    repo = package.parent.parent.parent
    out.append(("the repository's build directory", str(repo / "build" / LIBRARY_NAME)))
    found = ctypes.util.find_library("ringserve_client")
    if found:
        out.append(("the system loader (find_library)", found))
    out.append(("the system loader", SONAME))
    return out


def _load() -> tuple[ctypes.CDLL, str]:
    tried = []
    for description, where in candidates():
        is_path = os.sep in where
        if is_path and not os.path.exists(where):
            tried.append(f"  {where} ({description}): no such file")
            continue
        try:
            lib = ctypes.CDLL(where)
        except OSError as e:
            tried.append(f"  {where} ({description}): {e}")
            continue
        try:
            for name, (restype, argtypes) in _SIGNATURES.items():
                fn = getattr(lib, name)
                fn.restype = restype
                fn.argtypes = argtypes
        except AttributeError as e:
            tried.append(f"  {where} ({description}): not a ringserve client library: {e}")
            continue
        return lib, (os.path.abspath(where) if is_path else where)
    raise errors.LibraryNotFound(
        "cannot load libringserve_client.so; set RINGSERVE_LIB to its path. Tried:\n"
        + "\n".join(tried)
    )


_lock = threading.Lock()
_loaded: tuple[ctypes.CDLL, str] | None = None


def lib() -> ctypes.CDLL:
    """The loaded library (loaded on first use; raises LibraryNotFound)."""
    global _loaded
    if _loaded is None:
        with _lock:
            if _loaded is None:
                _loaded = _load()
    return _loaded[0]


def library_path() -> str:
    """Where the library was loaded from (loads it if needed)."""
    lib()
    assert _loaded is not None
    return _loaded[1]


def last_error_message() -> str:
    raw = lib().rs_last_error_message()
    return raw.decode("utf-8", "replace") if raw else ""


def error_name(code: int) -> str:
    raw = lib().rs_error_name(code)
    return raw.decode("utf-8", "replace") if raw else f"error {code}"


def check(code: int) -> int:
    """Raises the exception for a failed call's rs_error (reading this thread's message);
    returns RS_OK and RS_END_OF_STREAM unchanged."""
    if code in (errors.OK, errors.END_OF_STREAM):
        return code
    message = last_error_message() or error_name(code)
    raise errors.error_for(code, message)

"""The synchronous client: Client, Stream, Token, DaemonStatus, ModelInfo, KvCacheStatus.

    with ringserve.Client("demo") as client:
        for piece in client.generate("Hello", max_tokens=32, temperature=0):
            print(piece, end="", flush=True)

Thread-safety as in client.h: a Client may be shared by threads; a Stream is read by one
thread at a time, and cancel() or close() may be called from any thread while another reads.
"""

from __future__ import annotations

import ctypes
import numbers
import threading
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Sequence, Union

from . import _native, errors

# How long one rs_stream_next call waits before the stream looks again at whether it is being
# closed (and lets the interpreter run signal handlers, so Ctrl-C works while a stream waits).
_WAIT_SLICE_MS = 100

# Keyword parameters of generate() and chat(), as in rs_params. Integers with their C range.
_INT_PARAMS = {
    "max_tokens": (0, 2**32 - 1),
    "top_k": (-(2**31), 2**31 - 1),
    "seed": (0, 2**64 - 1),
    "priority": (-(2**31), 2**31 - 1),
    "queue_timeout_ms": (0, 2**32 - 1),
    "total_timeout_ms": (0, 2**32 - 1),
}
_FLOAT_PARAMS = ("temperature", "top_p", "min_p", "repetition_penalty")
PARAMS = tuple(_INT_PARAMS) + _FLOAT_PARAMS + ("stop_token_ids", "stop")


@dataclass(frozen=True)
class Token:
    """One generated token. ``id`` is -1 for text without a token (text held back because it
    might have begun a stop string, released at the end)."""

    id: int
    text: str
    published_ns: int  # CLOCK_MONOTONIC when the daemon published it


@dataclass(frozen=True)
class ModelInfo:
    """What the daemon serves (rs_model_info). The texts are the daemon's word, read from its
    segment bounded and sanitized by the library (anything but printable UTF-8 becomes '?')."""

    path: str  # the model's directory, "built-in", or "echo"
    architecture: str  # config.json's model_type: "gpt2", "llama", ...; "none" (echo)
    format: str  # the weights': "float32", "bfloat16", "float16", "int8", "int4"; "none"
    device: str  # "cpu", "cuda:0", ...; "none" (echo)
    context_length: int  # positions per sequence, prompt and output; 0 = no model limit
    weight_bytes: int  # the weights as held in memory
    kv_cache_bytes: int  # the KV cache, preallocated


@dataclass(frozen=True)
class KvCacheStatus:
    """The daemon's paged KV cache and prefix cache (rs_kv_cache_status); all 0 from a daemon
    without a model (echo)."""

    block_positions: int  # positions per block
    blocks_total: int
    blocks_in_use: int  # held by running requests
    blocks_cached: int  # held by none, kept for their prefix; evicted when room is needed
    prompt_tokens: int  # prompt tokens of every request started
    prompt_tokens_cached: int  # of those, taken from the prefix cache instead of computed
    preemptions: int  # requests that gave their blocks up mid-decode (recomputed later)

    @property
    def hit_rate(self) -> float:
        """prompt_tokens_cached / prompt_tokens; 0.0 before any prompt."""
        return self.prompt_tokens_cached / self.prompt_tokens if self.prompt_tokens else 0.0


@dataclass(frozen=True)
class DaemonStatus:
    """The daemon's counters (rs_daemon_status), the model it serves and its resident size
    (rs_model_info), and its KV cache (rs_kv_cache_status)."""

    pid: int
    slots: int
    slots_in_use: int
    max_concurrent: int
    max_queue: int
    running: int
    waiting: int
    received: int
    admitted: int
    rejected: int
    completed: int
    cancelled: int
    failed: int
    tokens_generated: int
    model: ModelInfo
    resident_bytes: int  # the daemon process's resident set size, refreshed every ~50 ms
    kv_cache: KvCacheStatus


def _invalid_params(message: str) -> errors.InvalidParams:
    return errors.InvalidParams("invalid parameters: " + message)


def _utf8(value: Union[str, bytes], what: str) -> bytes:
    """str -> UTF-8 bytes (strictly); bytes are passed as they are (the library checks them)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise errors.InvalidUtf8(
            f"invalid UTF-8: {what} is not valid UTF-8 ({e.reason} at character {e.start})"
        ) from None


def _int_param(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return int(value)


def build_params(params: Mapping[str, object], caller: str):
    """Keyword parameters -> (rs_params, objects the struct points into). Parameters left out
    (or None) keep rs_params_init's defaults. Raises TypeError for an unknown name or a wrong
    type, InvalidParams for a value the C type cannot hold (the library checks the ranges)."""
    for name in params:
        if name not in PARAMS:
            raise TypeError(f"{caller}() got an unexpected keyword argument '{name}'")
    p = _native.rs_params()
    _native.lib().rs_params_init(ctypes.byref(p))
    keep = []
    for name, (low, high) in _INT_PARAMS.items():
        value = params.get(name)
        if value is None:
            continue
        value = _int_param(name, value)
        if not low <= value <= high:
            raise _invalid_params(f"{name} {value} is out of range [{low}, {high}]")
        setattr(p, name, value)
    for name in _FLOAT_PARAMS:
        value = params.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a number, not {type(value).__name__}")
        setattr(p, name, float(value))
    ids = params.get("stop_token_ids")
    if ids is not None:
        ids = [_int_param("stop_token_ids[]", i) for i in ids]
        if len(ids) > _native.MAX_STOP_TOKENS:
            raise _invalid_params(f"stop_token_ids may hold at most {_native.MAX_STOP_TOKENS} ids")
        for i, token_id in enumerate(ids):
            if not -(2**31) <= token_id < 2**31:
                raise _invalid_params(f"stop_token_ids[{i}] {token_id} is out of range")
            p.stop_token_ids[i] = token_id
        p.stop_token_count = len(ids)
    stop = params.get("stop")
    if stop is not None:
        if isinstance(stop, (str, bytes)):
            stop = [stop]
        encoded = [_utf8(s, f"stop[{i}]") for i, s in enumerate(stop)]
        for i, s in enumerate(encoded):
            if b"\0" in s:  # a C string would end there
                raise _invalid_params(f"stop[{i}] contains a NUL byte")
        array = (ctypes.c_char_p * max(len(encoded), 1))(*encoded)
        keep += [encoded, array]
        p.stop = ctypes.cast(array, ctypes.POINTER(ctypes.c_char_p))
        p.stop_count = len(encoded)
    return p, keep


Message = Union[Mapping[str, str], Sequence[str]]


def build_messages(messages: Iterable[Message]):
    """Chat turns ({"role": ..., "content": ...} or (role, content)) -> (rs_message array,
    count, objects it points into)."""
    turns = []
    for i, m in enumerate(messages):
        if isinstance(m, Mapping):
            try:
                role, content = m["role"], m["content"]
            except KeyError as e:
                raise TypeError(f"messages[{i}] has no {e.args[0]!r} key") from None
        elif isinstance(m, (tuple, list)) and len(m) == 2:
            role, content = m
        else:
            raise TypeError(f"messages[{i}] must be a dict with role and content or a "
                            f"(role, content) pair, not {type(m).__name__}")
        if not isinstance(role, str):
            raise TypeError(f"messages[{i}].role must be str, not {type(role).__name__}")
        if "\0" in role:
            raise _invalid_params(f"messages[{i}].role contains a NUL character")
        turns.append((role.encode("utf-8", "replace"), _utf8(content, f"messages[{i}].content")))
    array = (_native.rs_message * max(len(turns), 1))()
    for i, (role, content) in enumerate(turns):
        array[i].role = role
        array[i].content = ctypes.cast(ctypes.c_char_p(content), ctypes.c_void_p)
        array[i].content_length = len(content)
    return array, len(turns), turns


class Stream:
    """One request's output, as an iterator: text pieces (str), or Token objects when the
    request was made with tokens=True.

    Iteration ends when the request finishes with "stop", "length" or "cancelled"; any other
    end raises the request's error (QueueFull, Timeout, DaemonGone, ...). ``finish_reason`` says
    why it ended (None while it runs). close(), leaving a ``with`` block and garbage collection
    of an unfinished stream cancel the request and give its slot back.
    ``prompt_tokens`` and ``prompt_cached_tokens`` say how long the prompt was in tokens and how
    many of them the daemon's prefix cache held.
    """

    def __init__(self, handle: int, tokens: bool):
        self._handle = handle
        self._tokens = tokens
        self._finish: str | None = None
        # (prompt tokens, of those from the prefix cache): read by the reading thread at the
        # first item and at the end, never while another thread may be in rs_stream_next (an
        # rs_stream is one thread's at a time).
        self._prompt = (0, 0)
        self._closing = False
        self._token = _native.rs_token()
        self._read_lock = threading.Lock()  # held while a thread waits in rs_stream_next
        self._handle_lock = threading.Lock()  # guards freeing the handle against cancel()

    @property
    def finish_reason(self) -> str | None:
        """Why the stream ended: "stop", "length", "cancelled", "timeout", "rejected" or
        "error"; None while it runs. Closing an unfinished stream makes it "cancelled"."""
        return self._finish

    @property
    def prompt_tokens(self) -> int:
        """The prompt's length in tokens, as the daemon tokenized it (chat turns rendered with
        its template, special tokens included). 0 until the first item has arrived; known from
        then on, and after the end of a request that ran."""
        return self._prompt[0]

    @property
    def prompt_cached_tokens(self) -> int:
        """How many of the prompt's tokens the daemon took from its prefix cache instead of
        computing them (a chat's earlier turns, a shared system prompt); whole blocks of the
        KV cache, and never the prompt's last token. Known when prompt_tokens is."""
        return self._prompt[1]

    def __iter__(self) -> Iterator:
        return self

    def __next__(self):
        item = self._read()
        if item is None:
            raise StopIteration
        return item

    def cancel(self) -> None:
        """Asks the daemon to stop the request (any thread). The tokens it already published
        are still delivered; then iteration ends with finish_reason "cancelled"."""
        with self._handle_lock:
            if self._handle is not None:
                _native.lib().rs_stream_cancel(self._handle)

    def close(self) -> None:
        """Cancels the request if it is unfinished and frees the stream. Idempotent."""
        self._begin_close()
        with self._read_lock:  # a reader on another thread leaves within one wait slice
            self._free("cancelled")

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            if self._handle is not None:
                self.close()
        except Exception:  # interpreter shutdown: the module may be half torn down
            pass

    # Internals (also used by the asyncio wrapper).

    def _begin_close(self) -> None:
        self._closing = True
        self.cancel()

    def _free(self, reason: str | None) -> None:
        with self._handle_lock:
            if self._handle is None:
                return
            if self._finish is None:
                self._finish = reason
            self._read_prompt_tokens()  # the final counts; the handle is about to go
            _native.lib().rs_stream_close(self._handle)
            self._handle = None

    def _read(self):
        """The next item, or None at the end; raises the request's error. Blocks."""
        lib = _native.lib()
        with self._read_lock:
            while True:
                if self._handle is None:
                    return None
                code = lib.rs_stream_next(self._handle, _WAIT_SLICE_MS, ctypes.byref(self._token))
                if code == errors.OK:
                    if self._prompt[0] == 0:
                        # A token means the prompt was computed, so its counts are final.
                        self._read_prompt_tokens()
                    item = self._item()
                    if item is not None:
                        return item
                    continue
                # Read the message at once, on this thread (it is per thread).
                message = "" if code == errors.END_OF_STREAM else _native.last_error_message()
                reason = lib.rs_stream_finish_reason(self._handle)
                if code == errors.TIMEOUT and reason == _native.FINISH_NONE:
                    if self._closing:  # closed while waiting: do not wait for the daemon
                        self._free("cancelled")
                        return None
                    continue  # one wait slice passed; the stream goes on
                if code == errors.DAEMON_NOT_RESPONDING and reason == _native.FINISH_NONE:
                    if self._closing:
                        self._free("cancelled")
                        return None
                    # The request is not over: the caller decides whether to wait on (iterate
                    # again) or give up (close).
                    raise errors.DaemonNotResponding(message or _native.error_name(code))
                self._free(_native.FINISH_REASONS.get(reason, "error"))
                if code == errors.END_OF_STREAM:
                    return None
                raise errors.error_for(code, message or _native.error_name(code))

    def _read_prompt_tokens(self) -> None:
        prompt, cached = ctypes.c_uint32(), ctypes.c_uint32()
        code = _native.lib().rs_stream_prompt_tokens(self._handle, ctypes.byref(prompt),
                                                      ctypes.byref(cached))
        if code == errors.OK:  # it fails only for a NULL stream, which _handle never is
            self._prompt = (prompt.value, cached.value)

    def _item(self):
        t = self._token
        raw = ctypes.string_at(t.text, t.text_length) if t.text_length else b""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            self._begin_close()
            self._free("error")
            raise errors.ProtocolError(f"protocol error: token text is not valid UTF-8: {e}")
        if self._tokens:
            return Token(t.id, text, t.published_ns)
        return text or None  # a token without text adds nothing to the text


class Client:
    """A connection to the ringserved daemon called ``name`` on this machine.

    ready_timeout: seconds to wait for a daemon that is still starting (None: the library's
    default, 2 s). wait_mode: None (the daemon's), "spin", "futex" or "hybrid".
    daemon_timeout: seconds without a heartbeat after which the daemon is reported as not
    responding (DaemonNotResponding; None: the library's default, 3 s; 0: never).
    daemon_uid: the uid of the daemon's user, trusted to own its segment besides this process's
    uid and root (None: $RINGSERVE_DAEMON_UID, a uid or a user name, if set).
    Raises DaemonNotRunning, PermissionDenied, VersionMismatch, InvalidArgument, ...
    """

    def __init__(self, name: str = "default", *, ready_timeout: float | None = None,
                 wait_mode: str | None = None, daemon_timeout: float | None = None,
                 daemon_uid: int | None = None):
        self._handle = None
        self._lock = threading.Lock()
        self.name = name
        if not isinstance(name, str):
            raise TypeError(f"name must be str, not {type(name).__name__}")
        lib = _native.lib()
        options = _native.rs_connect_options()
        lib.rs_connect_options_init(ctypes.byref(options))
        if ready_timeout is not None:
            if ready_timeout < 0:
                raise ValueError("ready_timeout must be >= 0 seconds (or None)")
            options.ready_timeout_ms = int(ready_timeout * 1000)
        if daemon_timeout is not None:
            if daemon_timeout < 0:
                raise ValueError("daemon_timeout must be >= 0 seconds (or None)")
            options.daemon_timeout_ms = int(daemon_timeout * 1000)
        if daemon_uid is not None:
            daemon_uid = _int_param("daemon_uid", daemon_uid)
            if not 0 <= daemon_uid < 2**32 - 1:
                raise ValueError(f"daemon_uid {daemon_uid} is not a uid")
            options.daemon_uid = daemon_uid
        mode = wait_mode.encode("utf-8") if wait_mode is not None else None
        options.wait_mode = mode
        out = ctypes.c_void_p()
        _native.check(lib.rs_connect_with(name.encode("utf-8"), ctypes.byref(options),
                                          ctypes.byref(out)))
        self._handle = out.value

    def close(self) -> None:
        """Disconnects. Streams already made keep working (they hold the connection)."""
        with self._lock:
            if self._handle is not None:
                _native.lib().rs_disconnect(self._handle)
                self._handle = None

    @property
    def closed(self) -> bool:
        return self._handle is None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"<ringserve.Client {self.name!r}{' closed' if self.closed else ''}>"

    def generate(self, prompt: Union[str, bytes], *, tokens: bool = False, **params) -> Stream:
        """Submits ``prompt`` and returns its Stream. Parameters as in rs_params: max_tokens,
        temperature, top_p, top_k, min_p, repetition_penalty, seed, priority,
        queue_timeout_ms, total_timeout_ms, stop_token_ids (list of ids), stop (list of str).
        Errors found before submission raise here; errors the daemon finds (queue full, ...)
        raise from the stream's first item."""
        data = _utf8(prompt, "prompt")
        p, _keep = build_params(params, "generate")  # _keep: what p points into
        return self._submit(
            lambda lib, handle, out: lib.rs_generate(handle, data, len(data), ctypes.byref(p), out),
            tokens,
        )

    def chat(self, messages: Iterable[Message], *, tokens: bool = False, **params) -> Stream:
        """As generate(), with chat turns: dicts {"role": ..., "content": ...} or
        (role, content) pairs; roles "system", "user", "assistant". The daemon renders them
        with its chat template."""
        array, count, _keep_turns = build_messages(messages)
        p, _keep = build_params(params, "chat")
        return self._submit(
            lambda lib, handle, out: lib.rs_chat(handle, array, count, ctypes.byref(p), out),
            tokens,
        )

    def tokenize(self, text: Union[str, bytes], *, add_special: bool = False,
                 with_pieces: bool = False) -> list:
        """The daemon's tokens of ``text`` (not empty): a list of ids, or with ``with_pieces``
        of (id, piece) pairs, piece being the token's text as generation streams it (whole
        characters: a character split over tokens comes with the last of them). Text that
        spells a special token becomes its id, as in a prompt. ``add_special``: also the
        special tokens (BOS) the daemon puts around a prompt. The daemon answers at once,
        whatever its scheduler holds."""
        data = _utf8(text, "text")
        flags = _native.TOKENIZE_ADD_SPECIAL if add_special else 0
        return self._tokenize(
            lambda lib, handle, out: lib.rs_tokenize(handle, data, len(data), flags, out),
            with_pieces)

    def tokenize_chat(self, messages: Iterable[Message], *, add_special: bool = False,
                      with_pieces: bool = False) -> list:
        """As tokenize(), for chat turns (as chat() takes them) rendered with the daemon's
        chat template."""
        array, count, _keep = build_messages(messages)
        flags = _native.TOKENIZE_ADD_SPECIAL if add_special else 0
        return self._tokenize(
            lambda lib, handle, out: lib.rs_tokenize_chat(handle, array, count, flags, out),
            with_pieces)

    def detokenize(self, ids: Iterable[int]) -> str:
        """The text of token ids (at least one), as the daemon's tokenizer decodes them. An id
        outside the vocabulary raises InvalidParams naming its index."""
        values = [_int_param(f"ids[{i}]", v) for i, v in enumerate(ids)]
        for i, v in enumerate(values):
            if not -(2**31) <= v < 2**31:
                raise _invalid_params(f"token ids[{i}] is {v}: not an int32")
        array = (ctypes.c_int32 * max(len(values), 1))(*values)
        text = ctypes.c_void_p()
        length = ctypes.c_size_t()
        lib = _native.lib()
        with self._lock:
            _native.check(lib.rs_detokenize(self._open_handle(), array, len(values),
                                            ctypes.byref(text), ctypes.byref(length)))
        try:
            raw = ctypes.string_at(text.value, length.value) if length.value else b""
        finally:
            lib.rs_free(text)
        return raw.decode("utf-8", "replace")

    def _tokenize(self, call, with_pieces: bool) -> list:
        out = _native.rs_tokens()
        lib = _native.lib()
        with self._lock:
            _native.check(call(lib, self._open_handle(), ctypes.byref(out)))
        try:
            ids = [out.ids[i] for i in range(out.count)]
            if not with_pieces:
                return ids
            offsets = [out.piece_offsets[i] for i in range(out.count + 1)]
            raw = ctypes.string_at(out.text, offsets[-1]) if offsets[-1] else b""
            return [(ids[i], raw[offsets[i]:offsets[i + 1]].decode("utf-8", "replace"))
                    for i in range(out.count)]
        finally:
            lib.rs_tokens_free(ctypes.byref(out))

    def status(self) -> DaemonStatus:
        """The daemon's counters, the model it serves, its resident size and its KV cache."""
        s = _native.rs_daemon_status()
        m = _native.rs_model_info()
        kv = _native.rs_kv_cache_status()
        with self._lock:
            lib, handle = _native.lib(), self._open_handle()
            _native.check(lib.rs_status(handle, ctypes.byref(s)))
            _native.check(lib.rs_model(handle, ctypes.byref(m)))
            _native.check(lib.rs_kv_cache(handle, ctypes.byref(kv)))
        # The library hands over printable UTF-8; "replace" only guards against a library
        # that does not.
        texts = {name: getattr(m, name).decode("utf-8", "replace")
                 for name in ("path", "architecture", "format", "device")}
        model = ModelInfo(**texts, context_length=m.context_length, weight_bytes=m.weight_bytes,
                          kv_cache_bytes=m.kv_cache_bytes)
        kv_cache = KvCacheStatus(**{name: getattr(kv, name) for name, _ in kv._fields_})
        return DaemonStatus(**{name: getattr(s, name) for name, _ in s._fields_}, model=model,
                            resident_bytes=m.resident_bytes, kv_cache=kv_cache)

    def _open_handle(self) -> int:
        if self._handle is None:
            raise errors.InvalidArgument("invalid argument: the client is closed")
        return self._handle

    def _submit(self, call, tokens: bool) -> Stream:
        out = ctypes.c_void_p()
        lib = _native.lib()
        with self._lock:
            _native.check(call(lib, self._open_handle(), ctypes.byref(out)))
        return Stream(out.value, bool(tokens))

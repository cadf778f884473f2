"""The asyncio client: AsyncClient and AsyncStream.

    async with ringserve.AsyncClient("demo") as client:
        async for piece in client.generate("Hello", max_tokens=32):
            print(piece, end="", flush=True)

The C calls that wait (connecting to a starting daemon, waiting for a token, status) run in
worker threads, so the event loop never blocks: each stream has one thread of its own that
waits for its tokens. generate() and chat() submit in the calling thread, because submitting
never waits (it claims a slot and writes the prompt into shared memory). Cancelling the task
that consumes a stream cancels the request and gives its slot back.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Union

from . import errors
from .client import Client, DaemonStatus, Message, Stream


class AsyncStream:
    """One request's output as an async iterator: text pieces, or Token objects with
    tokens=True. Ends, raises and reports ``finish_reason`` as Stream does."""

    def __init__(self, stream: Stream):
        self._stream = stream
        # One thread per stream waits in rs_stream_next: a shared pool would make streams
        # wait for each other's tokens.
        self._executor: ThreadPoolExecutor | None = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="ringserve-stream"
        )

    @property
    def finish_reason(self) -> str | None:
        return self._stream.finish_reason

    @property
    def prompt_tokens(self) -> int:
        """As Stream.prompt_tokens: 0 until the first item, then the prompt's tokens."""
        return self._stream.prompt_tokens

    @property
    def prompt_cached_tokens(self) -> int:
        """As Stream.prompt_cached_tokens: those of the prompt's tokens the prefix cache held."""
        return self._stream.prompt_cached_tokens

    def __aiter__(self) -> "AsyncStream":
        return self

    async def __anext__(self):
        if self._executor is None:
            raise StopAsyncIteration
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._stream._read)
        try:
            item = await future
        except asyncio.CancelledError:
            self._abandon()
            raise
        except errors.DaemonNotResponding:
            raise  # the stream goes on: iterate again once the daemon responds
        except BaseException:
            self._abandon()  # the stream already ended with its error
            raise
        if item is None:
            self._abandon()
            raise StopAsyncIteration
        return item

    def cancel(self) -> None:
        """Asks the daemon to stop the request; iteration then ends with "cancelled"."""
        self._stream.cancel()

    async def aclose(self) -> None:
        """Cancels the request if it is unfinished and frees the stream."""
        executor = self._executor
        if executor is None:
            return
        self._executor = None
        self._stream._begin_close()
        future = asyncio.get_running_loop().run_in_executor(executor, self._stream.close)
        executor.shutdown(wait=False)
        await future

    async def __aenter__(self) -> "AsyncStream":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    def __del__(self):
        try:
            self._abandon()
        except Exception:
            pass

    def _abandon(self) -> None:
        """Closes the stream without waiting: a read still running on the stream's thread
        returns within one wait slice, then the same thread frees the stream."""
        executor = self._executor
        if executor is None:
            return
        self._executor = None
        self._stream._begin_close()
        executor.submit(self._stream.close)
        executor.shutdown(wait=False)


class AsyncClient:
    """A connection to the daemon ``name``, for asyncio. Connect with ``async with
    AsyncClient(name) as client`` or ``client = await AsyncClient.connect(name)``; arguments
    as for Client."""

    def __init__(self, name: str = "default", *, ready_timeout: float | None = None,
                 wait_mode: str | None = None, daemon_timeout: float | None = None,
                 daemon_uid: int | None = None):
        self.name = name
        self._options = {"ready_timeout": ready_timeout, "wait_mode": wait_mode,
                         "daemon_timeout": daemon_timeout, "daemon_uid": daemon_uid}
        self._client: Client | None = None

    @classmethod
    async def connect(cls, name: str = "default", *, ready_timeout: float | None = None,
                      wait_mode: str | None = None, daemon_timeout: float | None = None,
                      daemon_uid: int | None = None) -> "AsyncClient":
        client = cls(name, ready_timeout=ready_timeout, wait_mode=wait_mode,
                     daemon_timeout=daemon_timeout, daemon_uid=daemon_uid)
        await client._connect()
        return client

    async def _connect(self) -> None:
        if self._client is None:
            self._client = await asyncio.to_thread(Client, self.name, **self._options)

    async def __aenter__(self) -> "AsyncClient":
        await self._connect()
        return self

    async def __aexit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Disconnects (does not wait). Streams already made keep working."""
        if self._client is not None:
            self._client.close()

    async def aclose(self) -> None:
        self.close()

    @property
    def sync_client(self) -> Client:
        if self._client is None:
            raise errors.InvalidArgument(
                "invalid argument: the AsyncClient is not connected "
                "(use 'async with' or 'await AsyncClient.connect(...)')"
            )
        return self._client

    def generate(self, prompt: Union[str, bytes], *, tokens: bool = False,
                 **params) -> AsyncStream:
        """As Client.generate(), returning an async iterator."""
        return AsyncStream(self.sync_client.generate(prompt, tokens=tokens, **params))

    def chat(self, messages: Iterable[Message], *, tokens: bool = False,
             **params) -> AsyncStream:
        """As Client.chat(), returning an async iterator."""
        return AsyncStream(self.sync_client.chat(messages, tokens=tokens, **params))

    async def status(self) -> DaemonStatus:
        return await asyncio.to_thread(self.sync_client.status)

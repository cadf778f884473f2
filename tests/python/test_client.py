"""Tests of the Python client (client-lib/python/ringserve) against real ringserved processes.

Run by ctest (tests/python/CMakeLists.txt), or by hand from the repository root:
    RINGSERVED=build/ringserved RINGSERVE_LIB=build/libringserve_client.so \
        python3 -m unittest discover -s tests/python -v
Without the variables it uses build/ringserved and the package's own library search.

Most tests run the echo backend: it streams the prompt's characters back, one per token, with
the code point as the token id (daemon/echo_backend.h), so every output is known exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PACKAGE_PARENT = REPO / "client-lib" / "python"
sys.path.insert(0, str(PACKAGE_PARENT))

import ringserve  # noqa: E402
from ringserve import _native  # noqa: E402

RINGSERVED = os.environ.get("RINGSERVED") or str(REPO / "build" / "ringserved")


def echo_of(prompt: str, max_tokens: int) -> str:
    """What the echo backend streams for a prompt: its characters repeated, max_tokens of them
    (echo_of in tests/integration_test.cc)."""
    return "".join(prompt[k % len(prompt)] for k in range(max_tokens))


def eventually(condition, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


class Daemon:
    """A ringserved process with a unique name; ready when a client can connect."""

    _count = 0

    def __init__(self, *settings: str, backend: str | None = "echo"):
        Daemon._count += 1
        self.name = f"py-{os.getpid()}-{Daemon._count}"
        args = [RINGSERVED, "--name", self.name]
        if backend is not None:
            args += ["--set", f"model.backend={backend}"]
        for s in settings:
            args += ["--set", s]
        # A file, not a pipe: a pipe nobody drains would block the daemon's logging.
        self.log = tempfile.NamedTemporaryFile(prefix=f"ringserve-{self.name}-", suffix=".log")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                ringserve.Client(self.name, ready_timeout=0.05).close()
                return
            except ringserve.DaemonNotRunning:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"ringserved exited with {self.proc.returncode}:\n"
                                       + self.log_text())
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError("ringserved did not become ready:\n" + self.log_text())
                time.sleep(0.02)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_text(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        # A killed daemon leaves its segment and lock file behind; nobody else uses the name.
        lock_dir = ("/run/ringserve" if os.geteuid() == 0 else
                    os.path.join(os.environ["XDG_RUNTIME_DIR"], "ringserve")
                    if os.environ.get("XDG_RUNTIME_DIR", "").startswith("/") else
                    f"/tmp/ringserve-{os.geteuid()}")
        for leftover in (f"/dev/shm/ringserve.{self.name}",
                         f"{lock_dir}/ringserve.{self.name}.lock"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class DaemonTestCase(unittest.TestCase):
    """One daemon for the whole class; SETTINGS are its --set values."""

    SETTINGS: tuple[str, ...] = ()
    BACKEND: str | None = "echo"

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(*cls.SETTINGS, backend=cls.BACKEND)
        cls.client = ringserve.Client(cls.daemon.name)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        log = cls.daemon.log_text()
        code = cls.daemon.stop()
        if code != 0:
            raise AssertionError(f"ringserved exited with {code}:\n{log}")

    def assert_slots_free(self, client=None):
        client = client or self.client
        self.assertTrue(eventually(lambda: client.status().slots_in_use == 0),
                        f"slots still in use: {client.status()}")


class EchoTest(DaemonTestCase):
    SETTINGS = ("model.echo_step_delay_us=1000",)

    def test_text_pieces_are_the_echo_output(self):
        prompt = "héllo wörld ✓ 𝄞"
        stream = self.client.generate(prompt, max_tokens=50)
        self.assertIsNone(stream.finish_reason)
        pieces = list(stream)
        self.assertEqual("".join(pieces), echo_of(prompt, 50))
        self.assertTrue(all(isinstance(p, str) and len(p) == 1 for p in pieces), pieces)
        self.assertEqual(stream.finish_reason, "length")
        self.assertEqual(list(stream), [])  # a finished stream stays finished

    def test_bytes_prompt(self):
        self.assertEqual("".join(self.client.generate("añb".encode(), max_tokens=7)), "añbañba")

    def test_tokens_have_ids_text_and_timestamps(self):
        prompt = "a€𝄞z"
        before = time.monotonic_ns()
        stream = self.client.generate(prompt, max_tokens=9, tokens=True)
        tokens = list(stream)
        after = time.monotonic_ns()
        self.assertTrue(all(isinstance(t, ringserve.Token) for t in tokens))
        self.assertEqual([t.text for t in tokens], list(echo_of(prompt, 9)))
        self.assertEqual([t.id for t in tokens], [ord(c) for c in echo_of(prompt, 9)])
        stamps = [t.published_ns for t in tokens]
        self.assertEqual(stamps, sorted(stamps))
        self.assertTrue(before <= stamps[0] and stamps[-1] <= after, (before, stamps, after))
        self.assertEqual(stream.finish_reason, "length")

    def test_stop_token_id_ends_with_stop(self):
        stream = self.client.generate("abcd", max_tokens=50, stop_token_ids=[ord("c"), 1])
        self.assertEqual("".join(stream), "ab")
        self.assertEqual(stream.finish_reason, "stop")

    def test_cancel_ends_the_stream_with_cancelled(self):
        stream = self.client.generate("abc", max_tokens=4000)
        got = [next(stream) for _ in range(3)]
        stream.cancel()
        got += list(stream)
        self.assertEqual(stream.finish_reason, "cancelled")
        self.assertLess(len(got), 4000)
        self.assertEqual("".join(got), echo_of("abc", len(got)))
        self.assert_slots_free()

    def test_cancel_from_another_thread_while_reading(self):
        stream = self.client.generate("abc", max_tokens=4000)
        next(stream)
        timer = threading.Timer(0.05, stream.cancel)
        timer.start()
        rest = list(stream)
        timer.join()
        self.assertEqual(stream.finish_reason, "cancelled")
        self.assertLess(len(rest), 3999)

    def test_closing_mid_stream_frees_the_slot(self):
        def close(stream):
            stream.close()

        def with_block(stream):
            with stream:
                next(stream)

        def generator_close(stream):
            # A generator that reads the stream in a with block, closed by its consumer.
            def pieces(stream):
                with stream:
                    yield from stream

            gen = pieces(stream)
            next(gen)
            gen.close()

        for how in (close, with_block, generator_close, None):
            with self.subTest(how=how.__name__ if how else "garbage collection"):
                cancelled = self.client.status().cancelled
                stream = self.client.generate("closing", max_tokens=4000)
                self.assertEqual(next(stream), "c")
                self.assertGreaterEqual(self.client.status().slots_in_use, 1)
                if how is None:
                    del stream
                    gc.collect()
                else:
                    how(stream)
                    self.assertEqual(stream.finish_reason, "cancelled")
                    self.assertEqual(list(stream), [])
                    del stream
                self.assert_slots_free()
                self.assertTrue(eventually(lambda: self.client.status().cancelled > cancelled))

    def test_close_from_another_thread_while_reading(self):
        stream = self.client.generate("abc", max_tokens=4000)
        next(stream)
        timer = threading.Timer(0.05, stream.close)
        timer.start()
        rest = list(stream)
        timer.join()
        self.assertLess(len(rest), 3999)
        self.assertEqual(stream.finish_reason, "cancelled")
        self.assert_slots_free()

    def test_invalid_params(self):
        with self.assertRaises(ringserve.InvalidParams) as cm:
            self.client.generate("x", top_p=2)
        e = cm.exception
        self.assertIsInstance(e, ringserve.RingserveError)
        self.assertEqual(e.code, 8)
        self.assertIn("top_p", str(e))
        self.assertTrue(str(e).startswith("invalid parameters: "), str(e))
        with self.assertRaisesRegex(ringserve.InvalidParams, "max_tokens"):
            self.client.generate("x", max_tokens=1_000_000)
        with self.assertRaisesRegex(ringserve.InvalidParams, "max_tokens"):
            self.client.generate("x", max_tokens=-1)  # does not fit the C type: not wrapped
        with self.assertRaisesRegex(ringserve.InvalidParams, "temperature"):
            self.client.generate("x", temperature=-0.5)
        with self.assertRaisesRegex(ringserve.InvalidParams, "stop_token_ids"):
            self.client.generate("x", stop_token_ids=list(range(9)))
        with self.assertRaisesRegex(ringserve.InvalidParams, "stop_strings"):
            self.client.generate("x", stop=["s"] * 9)
        with self.assertRaisesRegex(ringserve.InvalidParams, "NUL"):
            self.client.generate("x", stop=["a\0b"])
        self.assertEqual(self.client.status().slots_in_use, 0)

    def test_unknown_keyword_and_wrong_types_are_type_errors(self):
        with self.assertRaisesRegex(TypeError, "bogus"):
            self.client.generate("x", bogus=1)
        with self.assertRaisesRegex(TypeError, "max_tokenz"):
            self.client.chat([("user", "x")], max_tokenz=1)
        with self.assertRaisesRegex(TypeError, "max_tokens"):
            self.client.generate("x", max_tokens="5")
        with self.assertRaisesRegex(TypeError, "prompt"):
            self.client.generate(5)
        with self.assertRaises(TypeError):
            self.client.chat([("user",)])

    def test_every_parameter_is_accepted(self):
        stream = self.client.generate(
            "params", max_tokens=6, temperature=0.5, top_p=0.9, top_k=40, min_p=0.05,
            repetition_penalty=1.1, seed=2**64 - 1, priority=-3, queue_timeout_ms=5000,
            total_timeout_ms=10000, stop_token_ids=[7], stop=["zz", "yy"])
        self.assertEqual("".join(stream), "params")
        self.assertEqual(stream.finish_reason, "length")
        self.assertEqual(set(ringserve.PARAMS), {
            "max_tokens", "temperature", "top_p", "top_k", "min_p", "repetition_penalty",
            "seed", "priority", "queue_timeout_ms", "total_timeout_ms", "stop_token_ids", "stop"})

    def test_prompt_errors(self):
        with self.assertRaises(ringserve.EmptyPrompt):
            self.client.generate("")
        with self.assertRaisesRegex(ringserve.PromptTooLong, "16384"):
            self.client.generate("x" * 20000)
        with self.assertRaisesRegex(ringserve.InvalidUtf8, "byte 1"):
            self.client.generate(b"a\xff")
        with self.assertRaises(ringserve.InvalidUtf8):
            self.client.generate("lone \ud800 surrogate")

    def test_chat_on_the_echo_backend(self):
        # The echo backend has no chat template: a chat request reaches it without a prompt,
        # and the daemon fails it as an empty prompt. Dicts and pairs are both accepted.
        for messages in ([{"role": "user", "content": "hi"}],
                         [("system", "be brief"), ("user", "hi")]):
            stream = self.client.chat(messages)
            with self.assertRaisesRegex(ringserve.EmptyPrompt, "empty prompt"):
                list(stream)
            self.assertEqual(stream.finish_reason, "error")
        with self.assertRaisesRegex(ringserve.InvalidParams, "robot"):
            self.client.chat([("robot", "hi")])
        with self.assertRaisesRegex(ringserve.EmptyPrompt, "messages"):
            self.client.chat([])
        self.assert_slots_free()

    def test_total_timeout(self):
        stream = self.client.generate("abc", max_tokens=4000, total_timeout_ms=30)
        with self.assertRaises(ringserve.Timeout) as cm:
            for _ in stream:
                pass
        self.assertEqual(cm.exception.code, 12)
        self.assertEqual(stream.finish_reason, "timeout")
        self.assert_slots_free()

    def test_status(self):
        s = self.client.status()
        self.assertIsInstance(s, ringserve.DaemonStatus)
        self.assertEqual(s.pid, self.daemon.pid)
        self.assertEqual((s.slots, s.max_concurrent, s.max_queue), (64, 16, 64))
        before = s.tokens_generated
        list(self.client.generate("count", max_tokens=17))
        after = self.client.status()
        self.assertGreaterEqual(after.tokens_generated, before + 17)
        self.assertGreaterEqual(after.completed, 1)

    def test_status_says_there_is_no_model(self):
        s = self.client.status()
        self.assertEqual(s.model, ringserve.ModelInfo(path="echo", architecture="none",
                                                      format="none", device="none",
                                                      context_length=0, weight_bytes=0,
                                                      kv_cache_bytes=0))
        self.assertGreater(s.resident_bytes, 1 << 20)
        # No paged KV cache, so no prefix cache either.
        self.assertEqual(s.kv_cache, ringserve.KvCacheStatus(0, 0, 0, 0, 0, 0, 0))
        self.assertEqual(s.kv_cache.hit_rate, 0.0)

    def test_stream_counts_its_prompt_tokens(self):
        # The echo backend's tokens are the prompt's characters; it caches nothing.
        stream = self.client.generate("añb ✓", max_tokens=3)
        self.assertEqual((stream.prompt_tokens, stream.prompt_cached_tokens), (0, 0))
        self.assertEqual(next(stream), "a")
        self.assertEqual((stream.prompt_tokens, stream.prompt_cached_tokens), (5, 0))
        self.assertEqual("".join(stream), "ñb")
        self.assertEqual((stream.prompt_tokens, stream.prompt_cached_tokens), (5, 0))
        # Read at the end too: a stream the daemon finished, closed before its first item.
        completed = self.client.status().completed
        with self.client.generate("four", max_tokens=2) as stream:
            self.assertTrue(eventually(lambda: self.client.status().completed > completed))
        self.assertEqual((stream.prompt_tokens, stream.prompt_cached_tokens), (4, 0))

    def test_errors_on_threads_carry_their_own_messages(self):
        # rs_last_error_message is per thread: each failure must name its own field.
        failures = []

        def provoke(field, value):
            for _ in range(300):
                try:
                    self.client.generate("x", **{field: value})
                    failures.append(f"{field}: no error")
                except ringserve.InvalidParams as e:
                    if field not in str(e):
                        failures.append(f"{field}: {e}")

        threads = [threading.Thread(target=provoke, args=a)
                   for a in (("top_p", 2.0), ("temperature", 500.0), ("min_p", 1.0))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [])

    def test_streams_on_threads(self):
        prompts = ["alpha", "bravo ✓", "charlie", "δέλτα"]
        results = {}

        def run(prompt):
            results[prompt] = "".join(self.client.generate(prompt, max_tokens=120))

        threads = [threading.Thread(target=run, args=(p,)) for p in prompts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, {p: echo_of(p, 120) for p in prompts})

    def test_a_stream_outlives_its_client(self):
        client = ringserve.Client(self.daemon.name)
        with client:
            stream = client.generate("outlive", max_tokens=30)
        self.assertTrue(client.closed)
        with self.assertRaisesRegex(ringserve.InvalidArgument, "closed"):
            client.generate("x")
        self.assertEqual("".join(stream), echo_of("outlive", 30))


class QueueFullTest(DaemonTestCase):
    SETTINGS = ("model.echo_step_delay_us=2000", "scheduler.max_concurrent=1",
                "scheduler.max_queue=0")

    def test_a_full_waiting_line_raises_queue_full(self):
        rejected = self.client.status().rejected
        with self.client.generate("running", max_tokens=4000) as running:
            self.assertEqual(next(running), "r")  # admitted: it holds the only place
            second = self.client.generate("second", max_tokens=5)
            with self.assertRaises(ringserve.QueueFull) as cm:
                next(second)
            self.assertEqual(cm.exception.code, 6)
            self.assertIn("queue full", str(cm.exception))
            self.assertEqual(second.finish_reason, "rejected")
        self.assertEqual(self.client.status().rejected, rejected + 1)
        self.assert_slots_free()


class NoFreeSlotTest(DaemonTestCase):
    SETTINGS = ("model.echo_step_delay_us=2000", "transport.slots=1")

    def test_no_free_slot_raises_queue_full_at_submission(self):
        with self.client.generate("running", max_tokens=4000) as running:
            next(running)
            with self.assertRaisesRegex(ringserve.QueueFull, "request slots"):
                self.client.generate("second")
        self.assert_slots_free()
        self.assertEqual("".join(self.client.generate("again", max_tokens=5)), "again")


class ConnectTest(unittest.TestCase):
    def test_unknown_daemon_is_not_running(self):
        with self.assertRaises(ringserve.DaemonNotRunning) as cm:
            ringserve.Client(f"py-nobody-{os.getpid()}", ready_timeout=0.05)
        self.assertEqual(cm.exception.code, 2)
        self.assertIn("not running", str(cm.exception))

    def test_bad_name_is_an_invalid_argument(self):
        with self.assertRaisesRegex(ringserve.InvalidArgument, "bad name"):
            ringserve.Client("bad name")
        with self.assertRaises(TypeError):
            ringserve.Client(42)

    def test_error_classes_match_the_c_codes(self):
        expected = {
            2: (ringserve.DaemonNotRunning, "daemon not running"),
            3: (ringserve.DaemonGone, "daemon gone"),
            4: (ringserve.VersionMismatch, "version mismatch"),
            5: (ringserve.PermissionDenied, "permission denied"),
            6: (ringserve.QueueFull, "queue full"),
            7: (ringserve.PromptTooLong, "prompt too long"),
            8: (ringserve.InvalidParams, "invalid parameters"),
            9: (ringserve.EmptyPrompt, "empty prompt"),
            10: (ringserve.InvalidUtf8, "invalid UTF-8"),
            11: (ringserve.ShuttingDown, "shutting down"),
            12: (ringserve.Timeout, "timeout"),
            13: (ringserve.ProtocolError, "protocol error"),
            14: (ringserve.InvalidArgument, "invalid argument"),
            15: (ringserve.InternalError, "internal error"),
            16: (ringserve.DaemonNotResponding, "daemon not responding"),
        }
        for code, (cls, name) in expected.items():
            self.assertEqual(_native.error_name(code), name)
            e = ringserve.errors.error_for(code, "m")
            self.assertIs(type(e), cls)
            self.assertEqual((e.code, cls.code, str(e)), (code, code, "m"))
            self.assertIsInstance(e, ringserve.RingserveError)
        lib = _native.lib()
        for code, name in _native.FINISH_REASONS.items():
            self.assertEqual(lib.rs_finish_reason_name(code).decode(), name)


class LifecycleTest(unittest.TestCase):
    def test_daemon_killed_mid_stream_raises_daemon_gone(self):
        daemon = Daemon("model.echo_step_delay_us=1000")
        try:
            client = ringserve.Client(daemon.name)
            stream = client.generate("abc", max_tokens=4000)
            next(stream)
            daemon.kill()
            with self.assertRaisesRegex(ringserve.DaemonGone, "gone"):
                for _ in stream:
                    pass
            self.assertEqual(stream.finish_reason, "error")
            with self.assertRaises(ringserve.DaemonGone):
                client.generate("x")
            client.close()
        finally:
            daemon.kill()
            daemon.stop()

    def test_a_stopped_daemon_raises_daemon_not_responding_and_the_stream_goes_on(self):
        daemon = Daemon("model.echo_step_delay_us=2000")
        try:
            client = ringserve.Client(daemon.name, daemon_timeout=0.5)
            stream = client.generate("abc", max_tokens=1000)
            text = next(stream)
            os.kill(daemon.pid, signal.SIGSTOP)
            try:
                with self.assertRaisesRegex(ringserve.DaemonNotResponding,
                                            "has not responded for"):
                    for piece in stream:
                        text += piece
                self.assertIsNone(stream.finish_reason)  # not over
                with self.assertRaises(ringserve.DaemonNotResponding):
                    client.generate("x")
            finally:
                os.kill(daemon.pid, signal.SIGCONT)
            text += "".join(stream)  # goes on to its end, nothing lost
            self.assertEqual(text, echo_of("abc", 1000))
            self.assertEqual(stream.finish_reason, "length")
            client.close()
        finally:
            os.kill(daemon.pid, signal.SIGCONT)
            daemon.stop()

    def test_connect_options_are_checked(self):
        daemon = Daemon()
        try:
            with self.assertRaisesRegex(ValueError, "daemon_timeout"):
                ringserve.Client(daemon.name, daemon_timeout=-1)
            with self.assertRaisesRegex(ValueError, "daemon_uid"):
                ringserve.Client(daemon.name, daemon_uid=-5)
            with self.assertRaises(TypeError):
                ringserve.Client(daemon.name, daemon_uid="root")
            # The daemon runs as this user: trusted whatever else is named.
            ringserve.Client(daemon.name, daemon_uid=12345, daemon_timeout=0).close()
            env = dict(os.environ, RINGSERVE_DAEMON_UID="no-such-user-ringserve")
            code = ("import sys, ringserve\n"
                    "try:\n"
                    f"    ringserve.Client({daemon.name!r})\n"
                    "except ringserve.InvalidArgument as e:\n"
                    "    print(e); sys.exit(0)\n"
                    "sys.exit(1)\n")
            result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                    text=True, cwd=str(PACKAGE_PARENT), timeout=60)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            self.assertIn("no-such-user-ringserve", result.stdout)
        finally:
            daemon.stop()

    def test_a_stopping_daemon_raises_shutting_down(self):
        daemon = Daemon("model.echo_step_delay_us=1000", "scheduler.drain_timeout_ms=20000")
        try:
            client = ringserve.Client(daemon.name)
            running = client.generate("drain", max_tokens=4000)
            next(running)
            daemon.proc.send_signal(signal.SIGTERM)

            def refused():
                try:
                    client.generate("late").close()
                    return False
                except ringserve.ShuttingDown:
                    return True

            self.assertTrue(eventually(refused))
            running.close()  # the drain waits for it; closing lets the daemon exit at once
            self.assertEqual(daemon.proc.wait(10), 0)
            client.close()
        finally:
            daemon.kill()
            daemon.stop()


class BuiltinModelTest(DaemonTestCase):
    """The built-in model (torch backend) with the plain chat template."""

    BACKEND = None
    SETTINGS = ("model.threads=1", "model.template=plain")

    def test_chat_is_the_rendered_prompt(self):
        messages = [("system", "Be brief."), {"role": "user", "content": "Why is the sky blue?"}]
        rendered = "System: Be brief.\n\nUser: Why is the sky blue?\n\nAssistant:"
        chat = self.client.chat(messages, temperature=0, max_tokens=24, tokens=True)
        got = list(chat)
        reference = self.client.generate(rendered, temperature=0, max_tokens=24, tokens=True)
        want = list(reference)
        self.assertEqual([(t.id, t.text) for t in got], [(t.id, t.text) for t in want])
        self.assertGreater(len(got), 0)
        self.assertEqual(chat.finish_reason, reference.finish_reason)
        self.assertIn(chat.finish_reason, ("stop", "length"))

    def test_seed_reproduces_a_sample(self):
        def sample(seed):
            return "".join(self.client.generate("Once upon a time", max_tokens=40, seed=seed,
                                                temperature=1.0))

        first = sample(2**63 + 12345)
        self.assertEqual(sample(2**63 + 12345), first)
        self.assertTrue(any(sample(s) != first for s in (1, 2, 3)))

    def test_status_names_the_model_and_its_memory(self):
        s = self.client.status()
        m = s.model
        self.assertEqual((m.path, m.architecture, m.format, m.device, m.context_length),
                         ("built-in", "llama", "float32", "cpu", 512))
        # The built-in model's parameters in float32, a few MiB; its KV cache for 16 sequences.
        self.assertGreater(m.weight_bytes, 4 << 20)
        self.assertLess(m.weight_bytes, 64 << 20)
        self.assertGreater(m.kv_cache_bytes, 0)
        self.assertGreater(s.resident_bytes, m.weight_bytes)
        # Read from /proc by the daemon: the kernel's own count of the process.
        with open(f"/proc/{self.daemon.pid}/statm") as f:
            resident = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        self.assertLess(abs(s.resident_bytes - resident), max(resident // 4, 16 << 20))

    def test_prefix_cache_serves_a_repeated_prompt(self):
        # One id per byte (plus BOS), so 101 tokens; the first request leaves its full blocks of
        # 16 positions in the prefix cache, and the second takes all those its prompt fills but
        # the block of its last token (computed again, for its logits).
        prompt = "Python prefix cache check: " + "the same words again and again, " * 2
        prompt += "x" * (100 - len(prompt))
        before = self.client.status().kv_cache
        first = self.client.generate(prompt, temperature=0, max_tokens=4)
        first_text = "".join(first)
        second = self.client.generate(prompt, temperature=0, max_tokens=4)
        self.assertEqual("".join(second), first_text)
        self.assertEqual(first.prompt_tokens, 101)
        self.assertEqual(first.prompt_cached_tokens, 0)
        self.assertEqual(second.prompt_tokens, 101)
        self.assertEqual(second.prompt_cached_tokens, 96)
        # The daemon publishes these once per loop iteration: a finished stream may be ahead.
        self.assertTrue(eventually(lambda: self.client.status().kv_cache.blocks_in_use == 0))
        kv = self.client.status().kv_cache
        self.assertIsInstance(kv, ringserve.KvCacheStatus)
        # 16 whole contexts of 512 positions (max_concurrent and the model's context).
        self.assertEqual((kv.block_positions, kv.blocks_total), (16, 16 * 512 // 16))
        self.assertEqual(kv.prompt_tokens - before.prompt_tokens, 202)
        self.assertEqual(kv.prompt_tokens_cached - before.prompt_tokens_cached, 96)
        self.assertGreaterEqual(kv.blocks_cached, 96 // 16)
        self.assertEqual(kv.preemptions, 0)
        self.assertAlmostEqual(kv.hit_rate, kv.prompt_tokens_cached / kv.prompt_tokens)
        self.assertGreater(kv.hit_rate, 0.0)

    def test_stop_string_cuts_the_text(self):
        prompt = "The quick brown fox"
        full = "".join(self.client.generate(prompt, temperature=0, max_tokens=60))
        # A stop string from the middle of the greedy output, at its first occurrence.
        candidates = [full[i:i + 3] for i in range(4, len(full) - 3) if full[i:i + 3].strip()]
        self.assertTrue(candidates, repr(full))
        stop = candidates[0]
        stream = self.client.generate(prompt, temperature=0, max_tokens=60,
                                      stop=["never in the output", stop])
        self.assertEqual("".join(stream), full[: full.index(stop)])
        self.assertEqual(stream.finish_reason, "stop")


class AsyncTest(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon("model.echo_step_delay_us=5000")

    @classmethod
    def tearDownClass(cls):
        log = cls.daemon.log_text()
        code = cls.daemon.stop()
        if code != 0:
            raise AssertionError(f"ringserved exited with {code}:\n{log}")

    async def asyncSetUp(self):
        self.client = await ringserve.AsyncClient.connect(self.daemon.name)

    async def asyncTearDown(self):
        await self.client.aclose()

    async def slots_free(self) -> bool:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if (await self.client.status()).slots_in_use == 0:
                return True
            await asyncio.sleep(0.005)
        return False

    async def test_streams_the_echo_output(self):
        prompt = "async ✓ 𝄞"
        stream = self.client.generate(prompt, max_tokens=30)
        self.assertIsInstance(stream, ringserve.AsyncStream)
        pieces = [p async for p in stream]
        self.assertEqual("".join(pieces), echo_of(prompt, 30))
        self.assertEqual(stream.finish_reason, "length")

    async def test_tokens(self):
        stream = self.client.generate("añb", max_tokens=5, tokens=True)
        ids = [t.id async for t in stream]
        self.assertEqual(ids, [ord(c) for c in "añbañ"])

    async def test_async_with_client(self):
        async with ringserve.AsyncClient(self.daemon.name) as client:
            text = "".join([p async for p in client.generate("with", max_tokens=6)])
        self.assertEqual(text, "withwi")

    async def test_the_loop_runs_while_a_stream_waits(self):
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0)
                ticks += 1

        task = asyncio.create_task(ticker())
        started = time.monotonic()
        text = "".join([p async for p in self.client.generate("tick", max_tokens=40)])
        elapsed = time.monotonic() - started
        task.cancel()
        self.assertEqual(text, echo_of("tick", 40))
        # 40 steps of 5 ms: a loop blocked in each wait would tick a few times per token; a free
        # one spins thousands of times.
        self.assertGreater(elapsed, 0.15)
        self.assertGreater(ticks, 400, f"{ticks} ticks in {elapsed:.3f} s")

    async def test_concurrent_streams(self):
        prompts = [f"stream {i} ✓" for i in range(10)]

        async def read(prompt):
            return "".join([p async for p in self.client.generate(prompt, max_tokens=40)])

        started = time.monotonic()
        results = await asyncio.gather(*(read(p) for p in prompts))
        elapsed = time.monotonic() - started
        self.assertEqual(results, [echo_of(p, 40) for p in prompts])
        self.assertLess(elapsed, 40 * 0.005 * 5, "the streams did not run concurrently")

    async def test_cancelling_the_consuming_task_cancels_the_request(self):
        before = await self.client.status()
        got = []
        first = asyncio.Event()
        stream = self.client.generate("cancel me", max_tokens=4000)

        async def consume():
            async for piece in stream:
                got.append(piece)
                first.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), 5)
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await task
        self.assertTrue(await self.slots_free())
        self.assertGreater((await self.client.status()).cancelled, before.cancelled)
        self.assertLess(len(got), 4000)
        deadline = time.monotonic() + 3
        while stream.finish_reason is None and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        self.assertEqual(stream.finish_reason, "cancelled")

    async def test_wait_for_timeout_cancels_the_request(self):
        stream = self.client.generate("slow", max_tokens=4000)

        async def drain():
            async for _ in stream:
                pass

        with self.assertRaises(asyncio.TimeoutError):
            await asyncio.wait_for(drain(), 0.05)
        self.assertTrue(await self.slots_free())

    async def test_aclose_and_async_with_free_the_slot(self):
        stream = self.client.generate("aclose", max_tokens=4000)
        self.assertEqual(await stream.__anext__(), "a")
        await stream.aclose()
        self.assertEqual(stream.finish_reason, "cancelled")
        self.assertEqual([p async for p in stream], [])
        self.assertTrue(await self.slots_free())
        async with self.client.generate("with", max_tokens=4000) as stream:
            async for _ in stream:
                break
        self.assertEqual(stream.finish_reason, "cancelled")
        self.assertTrue(await self.slots_free())

    async def test_cancel_method(self):
        stream = self.client.generate("abc", max_tokens=4000)
        got = [await stream.__anext__()]
        stream.cancel()
        got += [p async for p in stream]
        self.assertEqual(stream.finish_reason, "cancelled")
        self.assertEqual("".join(got), echo_of("abc", len(got)))

    async def test_errors(self):
        with self.assertRaises(ringserve.DaemonNotRunning):
            await ringserve.AsyncClient.connect(f"py-nobody-{os.getpid()}", ready_timeout=0.05)
        with self.assertRaisesRegex(ringserve.InvalidParams, "top_p"):
            self.client.generate("x", top_p=2)
        with self.assertRaisesRegex(TypeError, "bogus"):
            self.client.generate("x", bogus=True)
        stream = self.client.chat([("user", "hi")])
        with self.assertRaises(ringserve.EmptyPrompt):
            async for _ in stream:
                pass
        self.assertEqual(stream.finish_reason, "error")
        with self.assertRaisesRegex(ringserve.InvalidArgument, "not connected"):
            ringserve.AsyncClient(self.daemon.name).generate("x")

    async def test_status(self):
        s = await self.client.status()
        self.assertEqual(s.pid, self.daemon.pid)
        self.assertEqual(s.kv_cache.blocks_total, 0)  # echo: no paged KV cache

    async def test_stream_counts_its_prompt_tokens(self):
        stream = self.client.generate("prompt", max_tokens=2)
        self.assertEqual(stream.prompt_tokens, 0)
        self.assertEqual("".join([p async for p in stream]), "pr")
        self.assertEqual((stream.prompt_tokens, stream.prompt_cached_tokens), (6, 0))


def _lib_path() -> str:
    return os.environ.get("RINGSERVE_LIB") or _native.library_path()


class LayoutTest(unittest.TestCase):
    """The ctypes structures against the C compiler's view of ringserve.h."""

    STRUCTS = {
        "rs_params": _native.rs_params,
        "rs_message": _native.rs_message,
        "rs_token": _native.rs_token,
        "rs_daemon_status": _native.rs_daemon_status,
        "rs_model_info": _native.rs_model_info,
        "rs_connect_options": _native.rs_connect_options,
        "rs_kv_cache_status": _native.rs_kv_cache_status,
    }

    def test_offsets_and_sizes_match_the_header(self):
        cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
        if cc is None:
            self.skipTest("no C compiler")
        lines = ["#include <stdio.h>", "#include <stddef.h>", '#include "ringserve/ringserve.h"',
                 "int main(void) {"]
        for name, cls in self.STRUCTS.items():
            lines.append(f'  printf("{name} %zu\\n", sizeof({name}));')
            for field, _ in cls._fields_:
                lines.append(f'  printf("{name}.{field} %zu\\n", offsetof({name}, {field}));')
        lines += ["  return 0;", "}"]
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "layout.c"
            source.write_text("\n".join(lines) + "\n")
            exe = Path(tmp) / "layout"
            subprocess.run([cc, "-I", str(REPO / "client-lib" / "include"), str(source), "-o",
                            str(exe)], check=True)
            out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
        c_view = dict(line.split() for line in out.splitlines())
        py_view = {}
        for name, cls in self.STRUCTS.items():
            py_view[name] = str(ctypes.sizeof(cls))
            for field, _ in cls._fields_:
                py_view[f"{name}.{field}"] = str(getattr(cls, field).offset)
        self.assertEqual(py_view, c_view)
        self.assertEqual(c_view["rs_params"], "96")
        self.assertEqual(c_view["rs_kv_cache_status"], "40")


class LibraryLookupTest(unittest.TestCase):
    """Which libringserve_client.so a fresh interpreter loads, run in a subprocess."""

    PROBE = (
        "import sys; sys.path.insert(0, sys.argv[1]); import ringserve\n"
        "print(ringserve.library_path())\n"
        "try:\n"
        "    ringserve.Client('py-nobody-lookup', ready_timeout=0)\n"
        "except ringserve.DaemonNotRunning:\n"
        "    print('calls work')\n"
    )

    def probe(self, package_parent: Path, lib_env: str | None):
        env = {k: v for k, v in os.environ.items()
               if k not in ("RINGSERVE_LIB", "LD_LIBRARY_PATH")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        if lib_env is not None:
            env["RINGSERVE_LIB"] = lib_env
        return subprocess.run([sys.executable, "-c", self.PROBE, str(package_parent)], env=env,
                              capture_output=True, text=True, timeout=30)

    def copy_package(self, root: Path) -> Path:
        """A copy of the package at root/ringserve; returns root."""
        root.mkdir(parents=True, exist_ok=True)
        shutil.copytree(PACKAGE_PARENT / "ringserve", root / "ringserve",
                        ignore=shutil.ignore_patterns("__pycache__", "*.so*"))
        return root

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="ringserve-lookup-"))
        self.lib = Path(_lib_path())
        self.assertTrue(self.lib.is_file(), self.lib)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def assert_loads(self, result, path: Path):
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.splitlines(), [str(path), "calls work"])

    def test_env_file(self):
        copy = self.tmp / "custom" / "libcustom.so"
        copy.parent.mkdir()
        shutil.copy(self.lib, copy)
        self.assert_loads(self.probe(PACKAGE_PARENT, str(copy)), copy)

    def test_env_directory(self):
        copy = self.tmp / "dir" / "libringserve_client.so"
        copy.parent.mkdir()
        shutil.copy(self.lib, copy)
        self.assert_loads(self.probe(PACKAGE_PARENT, str(copy.parent)), copy)

    def test_env_wins_over_the_copy_next_to_the_package(self):
        root = self.copy_package(self.tmp / "pkg")
        shutil.copy(self.lib, root / "ringserve" / "libringserve_client.so")
        env_copy = self.tmp / "env.so"
        shutil.copy(self.lib, env_copy)
        self.assert_loads(self.probe(root, str(env_copy)), env_copy)

    def test_env_pointing_nowhere_is_an_error_naming_it(self):
        result = self.probe(PACKAGE_PARENT, str(self.tmp / "missing.so"))
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("LibraryNotFound", result.stderr)
        self.assertIn(str(self.tmp / "missing.so"), result.stderr)

    def test_env_pointing_at_another_library_is_an_error(self):
        other = self.tmp / "other.so"
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            self.skipTest("no C compiler")
        src = self.tmp / "other.c"
        src.write_text("int not_ringserve(void) { return 1; }\n")
        subprocess.run([cc, "-shared", "-fPIC", str(src), "-o", str(other)], check=True)
        result = self.probe(PACKAGE_PARENT, str(other))
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("not a ringserve client library", result.stderr)

    def test_next_to_the_package(self):
        root = self.copy_package(self.tmp / "inside")
        lib = root / "ringserve" / "libringserve_client.so"
        shutil.copy(self.lib, lib)
        self.assert_loads(self.probe(root, None), lib)
        root = self.copy_package(self.tmp / "beside")
        lib = root / "libringserve_client.so"
        shutil.copy(self.lib, lib)
        self.assert_loads(self.probe(root, None), lib)

    def test_repository_build_directory(self):
        root = self.copy_package(self.tmp / "client-lib" / "python")
        lib = self.tmp / "build" / "libringserve_client.so"
        lib.parent.mkdir()
        shutil.copy(self.lib, lib)
        self.assert_loads(self.probe(root, None), lib)

    def test_not_found_names_the_places_tried(self):
        root = self.copy_package(self.tmp / "a" / "b")
        result = self.probe(root, None)
        if result.returncode == 0:  # installed for the system loader: it must come from there
            self.assertFalse(result.stdout.startswith(str(self.tmp)), result.stdout)
            return
        self.assertIn("LibraryNotFound", result.stderr)
        self.assertIn("RINGSERVE_LIB", result.stderr)
        for place in (root / "ringserve" / "libringserve_client.so",
                      root / "libringserve_client.so",
                      self.tmp / "build" / "libringserve_client.so"):
            self.assertIn(str(place), result.stderr)
        self.assertIn("libringserve_client.so.0", result.stderr)

    def test_in_repository_default(self):
        # The package in this checkout, no RINGSERVE_LIB: <repo>/build (when it is built there).
        build_lib = REPO / "build" / "libringserve_client.so"
        if not build_lib.exists():
            self.skipTest("no build/ in this checkout")
        self.assert_loads(self.probe(PACKAGE_PARENT, None), build_lib)


if __name__ == "__main__":
    unittest.main()

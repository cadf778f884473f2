"""Client.tokenize / tokenize_chat / detokenize of the Python client against real ringserved
processes (the echo backend: a token per character, its id the code point; and the built-in
model). Run with the other Python tests (tests/python/CMakeLists.txt)."""

from __future__ import annotations

import time
import unittest

from test_client import DaemonTestCase, ringserve


class EchoTokenizeTest(DaemonTestCase):
    SETTINGS = ("model.echo_step_delay_us=20000", "scheduler.max_concurrent=1",
                "scheduler.max_queue=1")

    def test_ids_are_code_points_and_come_back(self):
        text = "h\u00e9 \U0001F600"
        self.assertEqual(self.client.tokenize(text), [ord(c) for c in text])
        self.assertEqual(self.client.tokenize(text, with_pieces=True),
                         [(ord(c), c) for c in text])
        self.assertEqual(self.client.detokenize(self.client.tokenize(text)), text)
        self.assertEqual(self.client.tokenize(text.encode()), [ord(c) for c in text])

    def test_bad_inputs(self):
        with self.assertRaises(ringserve.InvalidParams) as e:
            self.client.detokenize([65, 0x110000])
        self.assertIn("token ids[1] is 1114112", str(e.exception))
        with self.assertRaises(ringserve.InvalidParams) as e:
            self.client.detokenize([65, -1])
        self.assertIn("token ids[1] is -1", str(e.exception))
        with self.assertRaises(ringserve.InvalidParams):
            self.client.detokenize([2**40])
        with self.assertRaises(TypeError):
            self.client.detokenize(["a"])
        with self.assertRaises(ringserve.EmptyPrompt):
            self.client.detokenize([])
        with self.assertRaises(ringserve.EmptyPrompt):
            self.client.tokenize("")
        with self.assertRaises(ringserve.InvalidParams) as e:
            self.client.tokenize_chat([{"role": "user", "content": "hi"}])
        self.assertIn("no chat template", str(e.exception))

    def test_answered_while_the_scheduler_is_full(self):
        running = self.client.generate("long", max_tokens=1000)
        waiting = self.client.generate("next", max_tokens=1000)
        try:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                st = self.client.status()
                if st.running == 1 and st.waiting == 1:
                    break
                time.sleep(0.01)
            start = time.monotonic()
            self.assertEqual(self.client.tokenize("quick"), [ord(c) for c in "quick"])
            self.assertLess(time.monotonic() - start, 0.5)
            st = self.client.status()
            self.assertEqual((st.running, st.waiting, st.rejected), (1, 1, 0))
        finally:
            running.close()
            waiting.close()


class BuiltinTokenizeTest(DaemonTestCase):
    BACKEND = "torch"
    SETTINGS = ("model.threads=1", "model.max_seq_len=256")

    def test_round_trip_and_special_tokens(self):
        for text in ("Hello", "h\u00e9llo \u65e5\u672c", "emoji \U0001F600", "<s>x</s>"):
            ids = self.client.tokenize(text)
            self.assertEqual(self.client.detokenize(ids), text)
            pieces = self.client.tokenize(text, with_pieces=True)
            self.assertEqual("".join(p for _, p in pieces), text)
            self.assertEqual(self.client.tokenize(text, add_special=True)[0], 1)  # <s>
        self.assertEqual([p for _, p in self.client.tokenize("<s>", with_pieces=True)], ["<s>"])
        chat = self.client.tokenize_chat([("user", "Hi")], with_pieces=True)
        self.assertIn("Hi", "".join(p for _, p in chat))
        with self.assertRaises(ringserve.InvalidParams) as e:
            self.client.detokenize([1, 10**6])
        self.assertIn("token ids[1] is 1000000, not in the vocabulary", str(e.exception))


if __name__ == "__main__":
    unittest.main()

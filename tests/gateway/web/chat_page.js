// Drives ringserve-http's chat page in headless Chromium over the DevTools protocol, with Node's
// built-ins only: Chromium's --remote-debugging-pipe (fd 3 in, fd 4 out, messages ended by
// NUL) needs no WebSocket client. Run by tests/gateway/chat_page_test.cc, which starts the
// daemon and the gateway and computes the replies the page must show.
//
// usage: node chat_page.js CONFIG.json
//   {"chromium", "url", "api_key", "screenshot", "max_tokens",
//    "turns": [{"prompt", "expected"}, ...], "stop_prompt"}
// Prints what it did; exit 0 when every check passed, 1 otherwise.
"use strict";

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const failures = [];
const check = (ok, what) => {
  console.log((ok ? "ok   " : "FAIL ") + what);
  if (!ok) failures.push(what);
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- the browser and the protocol ----
const profile = fs.mkdtempSync(path.join(os.tmpdir(), "ringserve-chromium-"));
const browser = spawn(
  config.chromium,
  ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-extensions",
    "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
    "--remote-debugging-pipe", "--user-data-dir=" + profile, "--window-size=1000,760",
    "about:blank"],
  { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] });
let browserLog = "";
browser.stderr.on("data", (d) => { browserLog += d; });
const toBrowser = browser.stdio[3];
const fromBrowser = browser.stdio[4];

let nextId = 1;
const pending = new Map();
const listeners = [];
let incoming = Buffer.alloc(0);
fromBrowser.on("data", (data) => {
  incoming = Buffer.concat([incoming, data]);
  let end;
  while ((end = incoming.indexOf(0)) >= 0) {
    const message = JSON.parse(incoming.subarray(0, end).toString("utf8"));
    incoming = incoming.subarray(end + 1);
    if (message.id && pending.has(message.id)) {
      const { resolve, reject, method } = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) reject(new Error(method + ": " + message.error.message));
      else resolve(message.result);
    } else if (message.method) {
      for (const listener of listeners) listener(message);
    }
  }
});
function send(method, params = {}, sessionId = undefined) {
  const id = nextId++;
  const message = { id, method, params };
  if (sessionId) message.sessionId = sessionId;
  toBrowser.write(JSON.stringify(message) + "\0");
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject, method }));
}

let session;
const page = (method, params) => send(method, params, session);
// Evaluates an expression in the page; returns its value.
async function evaluate(expression) {
  const r = await page("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true });
  if (r.exceptionDetails) throw new Error("evaluate " + expression + ": " + r.exceptionDetails.text);
  return r.result.value;
}
async function until(expression, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await evaluate(expression)) return true;
    await sleep(10);
  }
  check(false, "in time: " + what);
  return false;
}
// Types into a field as a user would (focus, then text input events).
async function type(selector, text) {
  await evaluate(`(() => { const e = document.querySelector(${JSON.stringify(selector)});
    e.focus(); e.value = ""; })()`);
  await page("Input.insertText", { text });
  await evaluate(`document.querySelector(${JSON.stringify(selector)})
    .dispatchEvent(new Event("change"))`);
}
const text = (selector) => evaluate(
  `(document.querySelector(${JSON.stringify(selector)}) || {}).textContent || ""`);
const assistantCount = () => evaluate(`document.querySelectorAll(".message.assistant").length`);
const lastAssistant = ".message.assistant:last-of-type";

// Sends `prompt` (the page is busy from the click on: send() sets the state before its first
// await); while it streams, records the lengths of the reply seen. Returns them.
async function sendAndWatch(prompt, onFirstText = null) {
  await type("#prompt", prompt);
  await evaluate(`document.getElementById("send").click()`);
  const seen = [];
  const end = Date.now() + 60000;
  while (Date.now() < end) {
    const state = await evaluate(`document.body.dataset.state`);
    const now = (await text(`#conversation > ${lastAssistant} .text`)).length;
    if (now > 0 && (seen.length === 0 || seen[seen.length - 1] !== now)) {
      seen.push(now);
      if (seen.length === 1 && onFirstText) await onFirstText();
    }
    if (state === "idle") return seen;
    await sleep(5);
  }
  check(false, "the reply ends within 60 s");
  return seen;
}

async function main() {
  const exceptions = [];
  listeners.push((m) => {
    if (m.method === "Runtime.exceptionThrown") {
      exceptions.push(m.params.exceptionDetails.exception?.description ||
        m.params.exceptionDetails.text);
    }
    // Content-Security-Policy violations are reported on the console by the browser.
    if (m.method === "Log.entryAdded" && /Content Security Policy/i.test(m.params.entry.text)) {
      exceptions.push("CSP: " + m.params.entry.text);
    }
  });
  const { targetId } = await send("Target.createTarget", { url: "about:blank" });
  ({ sessionId: session } = await send("Target.attachToTarget", { targetId, flatten: true }));
  await page("Runtime.enable");
  await page("Log.enable");
  await page("Page.enable");
  const loaded = new Promise((resolve) => listeners.push((m) => {
    if (m.method === "Page.loadEventFired") resolve();
  }));
  await page("Page.navigate", { url: config.url });
  await loaded;
  await until(`document.body.dataset.state === "idle"`, 5000, "the page script runs");
  check((await evaluate(`document.title`)) === "ringserve chat", "the page loads");
  // The fields are under Settings, closed at first: open it as a user would.
  await evaluate(`document.querySelector("#settings summary").click()`);

  // The gateway has keys: without one the page says so, and a send shows the 401.
  await until(`document.getElementById("model").textContent !== ""`, 5000, "the model line");
  check((await text("#model")).includes("API key"), "without a key the page asks for one");
  await type("#max-tokens", String(config.max_tokens));
  await type("#temperature", "0");
  await sendAndWatch(config.turns[0].prompt);
  let error = await text("#error");
  check(error.startsWith("HTTP 401: "), "a send without the key shows the 401: " + error);
  check((await assistantCount()) === 0, "the failed turn is not kept");
  check((await evaluate(`document.getElementById("prompt").value`)) === config.turns[0].prompt,
    "the failed prompt is given back to edit");
  await evaluate(`document.getElementById("prompt").value = ""`);

  await type("#api-key", config.api_key);
  await until(`document.getElementById("model").textContent === "built-in"`, 5000,
    "with the key the page names the model");

  // An error in OpenAI's error JSON is shown with its message and field.
  await type("#temperature", "500");
  await sendAndWatch(config.turns[0].prompt);
  error = await text("#error");
  check(error.startsWith("HTTP 400: ") && error.includes("temperature"),
    "an out-of-range temperature shows the gateway's 400 naming the field: " + error);
  await evaluate(`document.getElementById("prompt").value = ""`);
  await type("#temperature", "0");

  // The conversation: each reply streams in and equals the gateway's non-streaming answer to
  // the same history (computed by the test).
  for (const [i, turn] of config.turns.entries()) {
    const seen = await sendAndWatch(turn.prompt);
    const reply = await text(`#conversation > ${lastAssistant} .text`);
    check(reply === turn.expected,
      `turn ${i + 1}: the streamed reply is the greedy one: ${JSON.stringify(reply)}`);
    const events = Number(await evaluate(
      `document.querySelector("#conversation > ${lastAssistant}")?.dataset.events`));
    check(events >= 3, `turn ${i + 1}: read as SSE events (${events})`);
    // The built-in model takes a few ms a token: the text grows in steps the 5 ms polls see.
    check(seen.length >= 2, `turn ${i + 1}: the text appears as it streams (lengths ${seen})`);
    check((await text(`#conversation > ${lastAssistant} .meta`)).includes("tokens"),
      `turn ${i + 1}: the usage chunk is shown`);
    check((await text("#error")) === "", `turn ${i + 1}: no error shown`);
  }
  const userBoxes = await evaluate(`[...document.querySelectorAll(".message.user .text")]
    .map((e) => e.textContent)`);
  check(JSON.stringify(userBoxes) === JSON.stringify(config.turns.map((t) => t.prompt)),
    "the conversation shows every turn");
  // Model text is text: markup in a reply would have made elements.
  check((await evaluate(`document.querySelectorAll(".message .text *").length`)) === 0,
    "message text holds no elements");

  const shot = await page("Page.captureScreenshot", { format: "png" });
  fs.mkdirSync(path.dirname(config.screenshot), { recursive: true });
  fs.writeFileSync(config.screenshot, Buffer.from(shot.data, "base64"));
  console.log("screenshot: " + config.screenshot);

  // Stop: aborts the fetch as soon as text shows; the page goes idle and keeps what came.
  await type("#max-tokens", String(config.stop_max_tokens));
  let clickedWhileStreaming = false;
  await sendAndWatch(config.stop_prompt, async () => {
    clickedWhileStreaming = (await evaluate(`document.body.dataset.state`)) === "streaming";
    await evaluate(`document.getElementById("stop").click()`);
  });
  const finish = await evaluate(
    `document.querySelector("#conversation > ${lastAssistant}")?.dataset.finish`);
  console.log(`stop: clicked while streaming: ${clickedWhileStreaming}, finish: ${finish}`);
  if (clickedWhileStreaming) check(finish === "stopped", "stop ends the reply as stopped");
  check((await evaluate(`document.getElementById("send").disabled`)) === false,
    "after stop the page takes a new message");

  check(exceptions.length === 0, "no script errors or CSP violations: " + exceptions.join("; "));
}

const deadline = setTimeout(() => {
  check(false, "the whole run within 150 s");
  finish();
}, 150000);
function finish() {
  clearTimeout(deadline);
  if (failures.length) {
    console.log(`${failures.length} check(s) failed`);
    if (browserLog) console.log("chromium stderr (tail):\n" + browserLog.slice(-3000));
  }
  const code = failures.length ? 1 : 0;
  // The profile can be removed once the browser is gone (it writes there until then).
  browser.once("exit", () => {
    try {
      fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
    } catch (e) {
      console.log("could not remove " + profile + ": " + e.message);
    }
    process.exit(code);
  });
  browser.kill("SIGKILL");
}
main().then(finish, (e) => {
  check(false, "the driver: " + (e.stack || e));
  finish();
});

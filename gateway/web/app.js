// ringserve-http's chat page: keeps the conversation, streams each reply from
// POST /v1/chat/completions ("stream": true) and shows it as it arrives. Model text is only ever
// put into the page as text (textContent), never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const conversation = $("conversation");
const promptBox = $("prompt");
const sendButton = $("send");
const stopButton = $("stop");
const errorBox = $("error");
const statusLine = $("status");
const fields = {
  maxTokens: $("max-tokens"),
  temperature: $("temperature"),
  apiKey: $("api-key"),
  system: $("system"),
};

// The conversation sent with every request: {role, content} in order, finished turns only.
const history = [];
let controller = null;  // the AbortController of the reply being streamed, null when idle
let chat = 0;  // counts "New chat": a reply of an earlier chat that ends late is dropped

// Settings survive a reload; the API key only for this tab (sessionStorage).
function storage(kind) {
  try {
    return window[kind];
  } catch (e) {
    return null;  // storage disabled: settings just are not kept
  }
}
const kept = [
  [fields.maxTokens, storage("localStorage"), "ringserve.max_tokens"],
  [fields.temperature, storage("localStorage"), "ringserve.temperature"],
  [fields.system, storage("localStorage"), "ringserve.system"],
  [fields.apiKey, storage("sessionStorage"), "ringserve.api_key"],
];
for (const [field, store, key] of kept) {
  if (!store) continue;
  const value = store.getItem(key);
  if (value !== null) field.value = value;
  field.addEventListener("change", () => store.setItem(key, field.value));
}

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = fields.apiKey.value.trim();
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

function setBusy(busy) {
  document.body.dataset.state = busy ? "streaming" : "idle";
  sendButton.disabled = busy;
  stopButton.disabled = !busy;
  statusLine.textContent = busy ? "generating\u2026" : "";
}

function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = !text;
}

// "HTTP 400: message (param: x)" from OpenAI's {"error": {...}}, or the raw text.
function describeError(status, body) {
  let message = body;
  try {
    const e = JSON.parse(body).error;
    if (e && e.message) {
      message = e.message + (e.param ? " (param: " + e.param + ")" : "");
    }
  } catch (ignored) {
    // not JSON: show the text as it came
  }
  return (status ? "HTTP " + status + ": " : "") + (message || "no details");
}

function addMessage(role, text) {
  const box = document.createElement("div");
  box.className = "message " + role;
  const label = document.createElement("div");
  label.className = "role";
  label.textContent = role;
  const body = document.createElement("div");
  body.className = "text";
  body.textContent = text;
  const meta = document.createElement("div");
  meta.className = "meta";
  box.append(label, body, meta);
  conversation.append(box);
  box.scrollIntoView({ block: "end" });
  return box;
}

function requestBody() {
  const messages = [];
  const system = fields.system.value.trim();
  if (system) messages.push({ role: "system", content: system });
  messages.push(...history);
  const body = { messages, stream: true, stream_options: { include_usage: true } };
  // Sent as typed: the gateway checks the ranges and its 400 names the field.
  if (fields.maxTokens.value !== "") body.max_tokens = Number(fields.maxTokens.value);
  if (fields.temperature.value !== "") body.temperature = Number(fields.temperature.value);
  return body;
}

// Reads the SSE body: calls onEvent(json) for every "data:" event; true when "[DONE]" came.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return false;
    pending += decoder.decode(value, { stream: true });
    let newline;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, newline).replace(/\r$/, "");
      pending = pending.slice(newline + 1);
      if (!line.startsWith("data:")) continue;  // blank separators, comments, other fields
      const data = line.slice(5).trimStart();
      if (data === "[DONE]") return true;
      onEvent(JSON.parse(data));
    }
  }
}

async function send(text) {
  const thisChat = chat;
  showError("");
  history.push({ role: "user", content: text });
  const userBox = addMessage("user", text);
  const replyBox = addMessage("assistant", "");
  replyBox.classList.add("streaming");
  const replyText = replyBox.querySelector(".text");
  const replyMeta = replyBox.querySelector(".meta");
  let reply = "";
  let events = 0;
  let finish = null;
  let usage = null;
  let failure = null;
  controller = new AbortController();
  setBusy(true);
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: headers(),
      body: JSON.stringify(requestBody()),
      signal: controller.signal,
    });
    if (!response.ok) {
      failure = describeError(response.status, await response.text());
    } else {
      const complete = await readEvents(response, (event) => {
        replyBox.dataset.events = String(++events);
        if (event.error) {
          failure = describeError(0, JSON.stringify(event));
          return;
        }
        if (event.usage) usage = event.usage;
        const choice = event.choices && event.choices[0];
        if (!choice) return;
        if (choice.delta && choice.delta.content) {
          reply += choice.delta.content;
          replyText.textContent = reply;
          replyBox.scrollIntoView({ block: "end" });
        }
        if (choice.finish_reason) finish = choice.finish_reason;
      });
      if (!complete && !failure) failure = "the stream ended before [DONE]";
    }
  } catch (e) {
    if (e.name === "AbortError") {
      finish = "stopped";
    } else {
      failure = "cannot reach the gateway: " + e.message;
    }
  }
  controller = null;
  replyBox.classList.remove("streaming");
  if (thisChat !== chat) {
    setBusy(false);
    return;
  }
  if (failure && !reply) {
    // Nothing came: forget the turn and give the text back to edit or resend.
    history.pop();
    userBox.remove();
    replyBox.remove();
    if (!promptBox.value) promptBox.value = text;
  } else {
    history.push({ role: "assistant", content: reply });
    const parts = [];
    if (usage) parts.push(usage.completion_tokens + " tokens");
    if (finish) parts.push(finish);
    replyMeta.textContent = parts.join(" \u00b7 ");
  }
  replyBox.dataset.finish = finish || (failure ? "error" : "");
  showError(failure || "");
  setBusy(false);
}

async function showModel() {
  const model = $("model");
  try {
    const response = await fetch("/v1/models", { headers: headers() });
    const body = await response.text();
    if (response.ok) {
      const data = JSON.parse(body).data;
      model.textContent = data && data.length ? data[0].id : "";
    } else {
      model.textContent = response.status === 401 ? "(API key needed: Settings)" : "";
      if (response.status !== 401) showError(describeError(response.status, body));
    }
  } catch (e) {
    showError("cannot reach the gateway: " + e.message);
  }
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = promptBox.value.trim();
  if (!text || controller) return;
  promptBox.value = "";
  send(text);
});
promptBox.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});
// Aborting the fetch closes the connection, and the gateway cancels the request.
stopButton.addEventListener("click", () => controller && controller.abort());
$("clear").addEventListener("click", () => {
  if (controller) controller.abort();
  ++chat;
  history.length = 0;
  conversation.replaceChildren();
  showError("");
});
fields.apiKey.addEventListener("change", showModel);

setBusy(false);
showModel();

// The official OpenAI SDK (npm `openai`, pinned in package-lock.json here) against
// ringserve-http: streaming chat with usage, a non-streaming completion, an error as the SDK's
// APIError. Run by tests/gateway/openai_sdk_test.cc against a real daemon (the built-in model).
//
// usage: node openai_sdk.js BASE_URL     (e.g. http://127.0.0.1:PORT/v1)
// Prints what it checked; exit 0 when every check passed, 1 otherwise.
"use strict";

const OpenAI = require("openai");

const failures = [];
const check = (ok, what) => {
  console.log((ok ? "ok   " : "FAIL ") + what);
  if (!ok) failures.push(what);
};

async function main() {
  const client = new OpenAI({ baseURL: process.argv[2], apiKey: "x", maxRetries: 0 });
  const chat = {
    model: "anything",  // the gateway serves one model and ignores the name
    // The built-in model's greedy reply to this is words, not only spaces.
    messages: [{ role: "user", content: "Tell me a story about a cat." }],
    max_tokens: 16,
    temperature: 0,
  };

  const models = await client.models.list();
  check(models.data.length === 1 && models.data[0].id === "built-in",
    "models.list names the served model: " + JSON.stringify(models.data));

  // (a) A streamed chat equals the non-streaming one, and its usage chunk counts its tokens.
  const whole = await client.chat.completions.create(chat);
  const expected = whole.choices[0].message.content;
  check(typeof expected === "string" && expected.trim().length > 0,
    "non-streaming chat: " + JSON.stringify(expected));
  check(whole.usage.completion_tokens > 0 && whole.usage.completion_tokens <= chat.max_tokens,
    "non-streaming usage: " + JSON.stringify(whole.usage));

  const stream = await client.chat.completions.create({
    ...chat, stream: true, stream_options: { include_usage: true },
  });
  let text = "";
  let contentChunks = 0;
  let finish = null;
  let usage = null;
  let role = null;
  const objects = new Set();
  for await (const chunk of stream) {
    objects.add(chunk.object);
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) continue;
    if (choice.delta.role) role = choice.delta.role;
    if (choice.delta.content) {
      text += choice.delta.content;
      ++contentChunks;
    }
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  check(objects.size === 1 && objects.has("chat.completion.chunk"),
    "every chunk is a chat.completion.chunk: " + [...objects]);
  check(text === expected, "streamed text equals the non-streaming text: " + JSON.stringify(text));
  check(role === "assistant", "the first delta names the role");
  check(finish === whole.choices[0].finish_reason, "finish_reason " + finish);
  check(contentChunks >= 1, "content chunks: " + contentChunks);
  check(usage !== null && usage.completion_tokens === whole.usage.completion_tokens &&
    usage.prompt_tokens === whole.usage.prompt_tokens &&
    usage.total_tokens === usage.prompt_tokens + usage.completion_tokens,
    "the usage chunk counts the streamed tokens: " + JSON.stringify(usage));
  // A chunk carries every token published since the previous one: never more chunks than tokens.
  check(usage !== null && contentChunks <= usage.completion_tokens,
    `content chunks (${contentChunks}) <= completion tokens`);

  // (b) A non-streaming completion.
  const completion = await client.completions.create({
    model: "anything", prompt: "The quick brown fox", max_tokens: 8, temperature: 0,
  });
  check(completion.object === "text_completion", "completion object " + completion.object);
  check(typeof completion.choices[0].text === "string" && completion.choices[0].text.length > 0,
    "completion text: " + JSON.stringify(completion.choices[0].text));
  check(["stop", "length"].includes(completion.choices[0].finish_reason),
    "completion finish_reason " + completion.choices[0].finish_reason);
  check(completion.usage.completion_tokens > 0 && completion.usage.completion_tokens <= 8,
    "completion usage: " + JSON.stringify(completion.usage));
  const streamedCompletion = await client.completions.create({
    model: "anything", prompt: "The quick brown fox", max_tokens: 8, temperature: 0, stream: true,
  });
  let completionText = "";
  for await (const chunk of streamedCompletion) completionText += chunk.choices[0]?.text ?? "";
  check(completionText === completion.choices[0].text, "a streamed completion says the same");

  // (c) What the gateway does not support is the SDK's APIError: 400, naming the field.
  try {
    await client.chat.completions.create({ ...chat, n: 2 });
    check(false, "n: 2 is refused");
  } catch (e) {
    check(e instanceof OpenAI.APIError && e instanceof OpenAI.BadRequestError,
      "n: 2 is a BadRequestError: " + e);
    check(e.status === 400, "status " + e.status);
    check(e.param === "n", "param " + e.param);
    check(typeof e.message === "string" && e.message.includes("n"), "message " + e.message);
  }
}

main().then(
  () => {
    if (failures.length) console.log(`${failures.length} check(s) failed`);
    process.exit(failures.length ? 1 : 0);
  },
  (e) => {
    console.log("FAIL the script: " + (e.stack || e));
    process.exit(1);
  });

// Tests of the fake LLM: `node --test tests/host/fake-llm.test.mjs` (Node >= 20).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { extractText, startFakeLlm, turnMessageId } from "./fake-llm.mjs";

let fake;
before(async () => {
  fake = await startFakeLlm();
});
after(() => fake.close());

const post = (path, body) =>
  fetch(`${fake.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** Parses an SSE body into [{event, data}] (data parsed as JSON unless it is [DONE]). */
function parseSse(text) {
  return text
    .split("\n\n")
    .filter((b) => b.trim() !== "")
    .map((block) => {
      const lines = block.split("\n");
      const event = lines.find((l) => l.startsWith("event: "))?.slice(7);
      const data = lines.find((l) => l.startsWith("data: "))?.slice(6);
      return { event, data: data === "[DONE]" ? data : JSON.parse(data) };
    });
}

test("extractText takes the last envelope line of the last user message", () => {
  const body = {
    messages: [
      { role: "system", content: "You are a bot" },
      { role: "user", content: "[Zoom Alice 2026-01-01] first" },
      { role: "assistant", content: "ACK: first" },
      {
        role: "user",
        content: "System: [2026-01-01 10:00 UTC] Zoom event: joined\n\n[Zoom Alice 2026-01-01 10:01] hello zoom\n[message_id: 7]\n",
      },
    ],
  };
  assert.equal(extractText(body), "hello zoom");
});

test("extractText skips a user message that holds only an internal context block", () => {
  const body = {
    messages: [
      { role: "user", content: [{ type: "text", text: "[Zoom Bob t] real question" }] },
      { role: "user", content: "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>\nconversation info\n<<<END_OPENCLAW_INTERNAL_CONTEXT>>>\n" },
    ],
  };
  assert.equal(extractText(body), "real question");
});

test("extractText falls back to the last line, handles Responses input and cuts to 200 chars", () => {
  assert.equal(extractText({ input: "plain line one\nplain line two" }), "plain line two");
  assert.equal(
    extractText({ input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "x".repeat(300) }] }] }),
    "x".repeat(200),
  );
  assert.equal(extractText({ messages: [{ role: "system", content: "s" }] }), "");
});

test("chat completions streaming carries choices[0] in every chunk, usage and [DONE]", async () => {
  const res = await post("/chat/completions", {
    model: "echo-1",
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: "user", content: "[Zoom Alice now] a message that is longer than sixteen chars" }],
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /text\/event-stream/);
  const events = parseSse(await res.text());
  assert.equal(events.at(-1).data, "[DONE]");
  const chunks = events.slice(0, -1).map((e) => e.data);
  assert.ok(chunks.length >= 4);
  for (const c of chunks) {
    assert.equal(c.object, "chat.completion.chunk");
    assert.equal(c.choices[0].index, 0);
  }
  assert.deepEqual(chunks[0].choices[0].delta, { role: "assistant", content: "" });
  const last = chunks.at(-1);
  assert.equal(last.choices[0].finish_reason, "stop");
  assert.deepEqual(last.choices[0].delta, {});
  assert.ok(last.usage.total_tokens > 0);
  const text = chunks.map((c) => c.choices[0].delta.content ?? "").join("");
  assert.equal(text, "ACK: a message that is longer than sixteen chars");
  assert.ok(chunks.slice(1, -1).every((c) => c.choices[0].delta.content.length <= 16));
});

test("chat completions without streaming", async () => {
  const res = await post("/chat/completions", { model: "echo-1", messages: [{ role: "user", content: "hi" }] });
  const body = await res.json();
  assert.equal(body.object, "chat.completion");
  assert.deepEqual(body.choices[0].message, { role: "assistant", content: "ACK: hi" });
  assert.equal(body.choices[0].finish_reason, "stop");
  assert.ok(body.usage.prompt_tokens > 0);
});

test("responses streaming emits the events in order", async () => {
  const res = await post("/responses", { model: "echo-1", stream: true, input: "stream me please, twenty+ chars" });
  const events = parseSse(await res.text());
  const types = [...new Set(events.map((e) => e.event))];
  assert.deepEqual(types, [
    "response.created",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.output_item.done",
    "response.completed",
  ]);
  for (const e of events) assert.equal(e.data.type, e.event);
  assert.equal(events[0].data.response.status, "in_progress");
  const deltas = events.filter((e) => e.event === "response.output_text.delta").map((e) => e.data.delta);
  assert.equal(deltas.join(""), "ACK: stream me please, twenty+ chars");
  const done = events.at(-1).data.response;
  assert.equal(done.status, "completed");
  assert.equal(done.output[0].content[0].text, "ACK: stream me please, twenty+ chars");
  assert.ok(done.usage.total_tokens > 0);
});

test("responses without streaming", async () => {
  const res = await post("/responses", { model: "echo-1", input: [{ role: "user", content: "yo" }] });
  const body = await res.json();
  assert.equal(body.object, "response");
  assert.equal(body.status, "completed");
  assert.deepEqual(body.output[0].content[0], { type: "output_text", text: "ACK: yo", annotations: [] });
});

test("models, 404, and the request records", async () => {
  const models = await (await fetch(`${fake.url}/models`)).json();
  assert.deepEqual(models, { object: "list", data: [{ id: "echo-1", object: "model", owned_by: "fake" }] });
  assert.equal((await fetch(`${fake.url}/nope`)).status, 404);

  await (await fetch(`http://127.0.0.1:${fake.port}/__reset`, { method: "POST" })).json();
  await (await post("/chat/completions", { model: "echo-1", messages: [{ role: "user", content: "needle-42 in the prompt" }] })).json();
  const records = await (await fetch(`http://127.0.0.1:${fake.port}/__requests`)).json();
  assert.equal(records.length, 1);
  assert.equal(records[0].path, "/v1/chat/completions");
  assert.equal(records[0].reply, "ACK: needle-42 in the prompt");
  assert.match(JSON.stringify(records[0].body), /needle-42/);
  const later = await (await fetch(`http://127.0.0.1:${fake.port}/__requests?since=${records[0].seq + 1}`)).json();
  assert.deepEqual(later, []);
});

const control = (path, body) =>
  fetch(`http://127.0.0.1:${fake.port}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

test("a script answers its turn with tool calls, filling the message id and the last tool result, then text", async () => {
  const script = {
    match: "zc-script-1",
    steps: [
      { tool: "message", arguments: { action: "react", messageId: "$MESSAGE_ID", emoji: "👍" } },
      { tool: "message", arguments: { action: "edit", messageId: "$RESULT.messageId", message: "final" } },
      { text: "all done" },
    ],
  };
  assert.equal((await control("/__script", script)).status, 200);
  const user = { role: "user", content: "[Zoom Alice t] please zc-script-1\n[message_id: guid-77]" };
  const history = [
    { role: "user", content: "[Zoom Alice t] older zc-script-1 turn" },
    { role: "assistant", content: "ACK: older" },
    user,
  ];
  // Step 1 (streamed): the tool call, its arguments in chunks.
  const events = parseSse(await (await post("/chat/completions", { model: "echo-1", stream: true, messages: history })).text());
  const chunks = events.slice(0, -1).map((e) => e.data);
  assert.equal(chunks.at(-1).choices[0].finish_reason, "tool_calls");
  const calls = chunks.flatMap((c) => c.choices[0].delta.tool_calls ?? []);
  assert.match(calls[0].id, /^call_/);
  assert.equal(calls[0].function.name, "message");
  const args = JSON.parse(calls.map((c) => c.function.arguments ?? "").join(""));
  assert.deepEqual(args, { action: "react", messageId: "guid-77", emoji: "👍" });
  // Step 2 (not streamed): $RESULT.messageId from the tool result's JSON.
  const afterFirst = [
    ...history,
    { role: "assistant", content: null, tool_calls: [{ id: calls[0].id, type: "function", function: { name: "message", arguments: JSON.stringify(args) } }] },
    { role: "tool", tool_call_id: calls[0].id, content: [{ type: "text", text: JSON.stringify({ ok: true, result: { messageId: "sent-9" } }) }] },
  ];
  const second = await (await post("/chat/completions", { model: "echo-1", messages: afterFirst })).json();
  assert.equal(second.choices[0].finish_reason, "tool_calls");
  const call2 = second.choices[0].message.tool_calls[0];
  assert.deepEqual(JSON.parse(call2.function.arguments), { action: "edit", messageId: "sent-9", message: "final" });
  // Step 3: the text; then the script is spent and the turn's answer is ACK again.
  const afterSecond = [
    ...afterFirst,
    { role: "assistant", content: null, tool_calls: [call2] },
    { role: "tool", tool_call_id: call2.id, content: '{"ok":true}' },
  ];
  const third = await (await post("/chat/completions", { model: "echo-1", messages: afterSecond })).json();
  assert.deepEqual(third.choices[0].message, { role: "assistant", content: "all done" });
  const next = await (await post("/chat/completions", { model: "echo-1", messages: [...afterSecond, third.choices[0].message, { role: "user", content: "[Zoom Alice t] thanks" }] })).json();
  assert.equal(next.choices[0].message.content, "ACK: thanks");
  const records = await (await fetch(`http://127.0.0.1:${fake.port}/__requests`)).json();
  assert.deepEqual(records.at(-4).toolCall, { name: "message", arguments: { action: "react", messageId: "guid-77", emoji: "👍" } });
});

test("a script over the Responses API; a placeholder without a value answers SCRIPT ERROR; a bad script is refused", async () => {
  await control("/__script", { match: "zc-script-2", steps: [{ tool: "message", arguments: { action: "react", messageId: "$MESSAGE_ID", target: "$CHAT_ID" } }] });
  const withId = [{ type: "message", role: "user", content: [{ type: "input_text", text: 'zc-script-2 {"chat_id": "zoom:c-1", "message_id": "m-5"}' }] }];
  const events = parseSse(await (await post("/responses", { model: "echo-1", stream: true, input: withId })).text());
  const done = events.at(-1).data.response.output[0];
  assert.equal(done.type, "function_call");
  assert.equal(done.name, "message");
  assert.deepEqual(JSON.parse(done.arguments), { action: "react", messageId: "m-5", target: "zoom:c-1" });
  const deltas = events.filter((e) => e.event === "response.function_call_arguments.delta").map((e) => e.data.delta);
  assert.equal(deltas.join(""), done.arguments);
  // The call made, its output in: the script is spent, ACK.
  const spent = await (
    await post("/responses", { model: "echo-1", input: [...withId, { ...done }, { type: "function_call_output", call_id: done.call_id, output: "ok" }] })
  ).json();
  assert.equal(spent.output[0].type, "message");
  // Offered only through OpenClaw's tool search: called via tool_call {id, args}.
  const meta = await (
    await post("/responses", { model: "echo-1", tools: [{ type: "function", name: "tool_call" }, { type: "function", name: "tool_search" }], input: withId })
  ).json();
  assert.equal(meta.output[0].name, "tool_call");
  assert.deepEqual(JSON.parse(meta.output[0].arguments), { id: "message", args: { action: "react", messageId: "m-5", target: "zoom:c-1" } });
  const noId = await (await post("/responses", { model: "echo-1", input: "zc-script-2 without an id" })).json();
  assert.match(noId.output[0].content[0].text, /^SCRIPT ERROR: no message id/);
  assert.equal((await control("/__script", { match: "", steps: [] })).status, 400);
  assert.equal((await control("/__script", { match: "x", steps: [{ arguments: {} }] })).status, 400);
});

test("turnMessageId reads Clawdbot's line and OpenClaw's JSON block, also quoted inside a string", () => {
  assert.equal(turnMessageId("[Zoom a t] hi\n[message_id: zoom-ev-1]"), "zoom-ev-1");
  assert.equal(turnMessageId('{"chat_id": "c", "message_id": "zoom-ev-2"}'), "zoom-ev-2");
  assert.equal(turnMessageId('"Conversation info:\\n{\\"chat_id\\":\\"c\\",\\"message_id\\":\\"zoom-ev-3\\",\\"x\\":1}"'), "zoom-ev-3");
  assert.equal(turnMessageId("no id here"), undefined);
});

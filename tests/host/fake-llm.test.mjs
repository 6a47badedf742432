// Tests of the fake LLM: `node --test tests/host/fake-llm.test.mjs` (Node >= 20).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { extractText, startFakeLlm } from "./fake-llm.mjs";

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

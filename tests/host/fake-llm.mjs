// A fake OpenAI-compatible LLM for the real-host end-to-end test (plain ESM, no dependencies).
//
// Serves, under /v1: POST chat/completions and POST responses (streaming and not), GET models.
// Every answer is `ACK: <text>`, where <text> is taken from the last user message (see
// `extractText`), unless a script matches the current turn (see `scriptStep`): then the answer
// is the script's next step, a tool call or a text. Every request is recorded, full body included:
//   GET  /__requests[?since=SEQ]  -> [{seq, at, path, model, stream, messages, tools, text, reply, toolCall, userTail, body, doneAt}]
//   POST /__reset                 -> clears the records and the scripts
//   POST /__script {match, steps} -> adds a script: steps are {tool, arguments} or {text}
//
// As a program: `node fake-llm.mjs [--port N]` prints `http://127.0.0.1:<port>/v1` as its first
// stdout line, then one JSON line (without the body) per request; exits on SIGTERM/SIGINT.

import http from "node:http";
import { fileURLToPath } from "node:url";

const MODEL_ID = "echo-1";
const CHUNK = 16;
const MAX_TEXT = 200;
const MAX_BODY = 64 * 1024 * 1024;

/** Joins a message content (string or array of text parts) into one string. */
function contentText(content) {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .filter((p) => p && (p.type === "text" || p.type === "input_text") && typeof p.text === "string")
    .map((p) => p.text)
    .join("\n");
}

/** The user messages of a Chat Completions or Responses request body, oldest first. */
export function userMessages(body) {
  if (Array.isArray(body?.messages)) {
    return body.messages.filter((m) => m?.role === "user").map((m) => contentText(m.content));
  }
  const input = body?.input;
  if (typeof input === "string") return [input];
  if (Array.isArray(input)) {
    return input
      .filter((m) => m?.role === "user" && (m.type === undefined || m.type === "message"))
      .map((m) => contentText(m.content));
  }
  return [];
}

const INTERNAL_BLOCK = /<<<BEGIN_[^>]*>>>[\s\S]*?<<<END_[^>]*>>>/g;
const MESSAGE_ID_LINE = /^\[message_id:[^\]]*\]$/;
const ENVELOPE_LINE = /^\[[^\]]*\]\s+(\S[\s\S]*)$/;

/**
 * The text the fake answers to: from the last user message that is not empty once internal
 * `<<<BEGIN_…>>>…<<<END_…>>>` blocks are removed, the last envelope line (`[Channel sender
 * time] text`) with its envelope stripped, else the last non-empty line; cut to 200 chars.
 */
export function extractText(body) {
  const users = userMessages(body);
  for (let i = users.length - 1; i >= 0; i--) {
    const lines = users[i]
      .replace(INTERNAL_BLOCK, "")
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== "" && !MESSAGE_ID_LINE.test(l));
    if (lines.length === 0) continue;
    let text = lines[lines.length - 1];
    for (let j = lines.length - 1; j >= 0; j--) {
      const m = ENVELOPE_LINE.exec(lines[j]);
      if (m) {
        text = m[1];
        break;
      }
    }
    return text.slice(0, MAX_TEXT);
  }
  return "";
}

/** The text of a tool result (Chat Completions `tool` message or Responses `function_call_output`). */
function toolResultText(item) {
  if (item?.role === "tool") return contentText(item.content);
  if (item?.type === "function_call_output") return typeof item.output === "string" ? item.output : contentText(item.output);
  return undefined;
}

/**
 * The current turn of a request: the items after the last assistant message that made no tool
 * call (the previous turn's final answer). Returns its user text, how many tool calls the
 * assistant made in it so far, and its tool results (oldest first).
 */
export function currentTurn(body) {
  const items = Array.isArray(body?.messages) ? body.messages : Array.isArray(body?.input) ? body.input : typeof body?.input === "string" ? [{ role: "user", content: body.input }] : [];
  const isCall = (m) => m?.type === "function_call" || (m?.role === "assistant" && Array.isArray(m.tool_calls) && m.tool_calls.length > 0);
  let start = 0;
  for (let i = items.length - 1; i >= 0; i--) {
    if (items[i]?.role === "assistant" && !isCall(items[i])) {
      start = i + 1;
      break;
    }
  }
  const turn = items.slice(start);
  return {
    userText: turn
      .filter((m) => m?.role === "user" && (m.type === undefined || m.type === "message"))
      .map((m) => contentText(m.content))
      .join("\n"),
    calls: turn.filter(isCall).length,
    results: turn.map(toolResultText).filter((t) => t !== undefined),
  };
}

/** The value of the first `key` found depth-first in `v`. */
function findKey(v, key) {
  if (Array.isArray(v)) {
    for (const x of v) {
      const hit = findKey(x, key);
      if (hit !== undefined) return hit;
    }
  } else if (v && typeof v === "object") {
    if (typeof v[key] === "string" || typeof v[key] === "number") return String(v[key]);
    for (const x of Object.values(v)) {
      const hit = findKey(x, key);
      if (hit !== undefined) return hit;
    }
  }
  return undefined;
}

/** The first `"key": "X"` in `text`, also when the JSON is itself quoted (`\"key\":\"X\"`). */
function jsonField(text, key) {
  return new RegExp(`\\\\?"${key}\\\\?"\\s*:\\s*\\\\?"([^"\\\\]+)`).exec(text ?? "")?.[1];
}

/**
 * The first message id the host put in the turn's user text: Clawdbot's `[message_id: X]` line,
 * or OpenClaw's `"message_id": "X"` in a JSON block (possibly itself quoted).
 */
export function turnMessageId(userText) {
  return /\[message_id:\s*([^\]\s]+)\s*\]/.exec(userText)?.[1] ?? jsonField(userText, "message_id");
}

/**
 * Replaces, in the string values of `args`, `$MESSAGE_ID` with the turn's message id,
 * `$CHAT_ID` with the turn's `chat_id` (OpenClaw's conversation info) and `$RESULT.<key>` with
 * `<key>` of the latest tool result (parsed as JSON, searched depth-first).
 * Throws when a placeholder has no value (the script cannot go on).
 */
export function fillArguments(args, turn) {
  const latest = turn.results[turn.results.length - 1];
  let parsed;
  try {
    parsed = latest === undefined ? undefined : JSON.parse(latest);
  } catch {
    parsed = undefined;
  }
  const fill = (s) =>
    s
      .replace(/\$MESSAGE_ID/g, () => {
        const id = turnMessageId(turn.userText);
        if (!id) throw new Error("no message id in the turn's user text");
        return id;
      })
      .replace(/\$CHAT_ID/g, () => {
        const id = jsonField(turn.userText, "chat_id");
        if (!id) throw new Error("no chat_id in the turn's user text");
        return id;
      })
      .replace(/\$RESULT\.([A-Za-z_][A-Za-z0-9_]*)/g, (_, key) => {
        const v = findKey(parsed, key) ?? jsonField(latest, key);
        if (v === undefined) throw new Error(`no ${key} in the latest tool result ${JSON.stringify(latest)?.slice(0, 300)}`);
        return v;
      });
  const walk = (v) => (typeof v === "string" ? fill(v) : Array.isArray(v) ? v.map(walk) : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)])) : v);
  return walk(args);
}

/**
 * The scripted answer for `body`, if a script's `match` is in the current turn's user text:
 * its step number `calls` (the tool calls the assistant already made this turn), as
 * `{tool, arguments}` (placeholders filled) or `{text}`. A tool the request does not offer but
 * whose `tool_call` meta-tool it offers is called through that. Undefined when no script
 * matches or its steps are spent (the caller answers `ACK: …`).
 */
export function scriptStep(scripts, body) {
  const turn = currentTurn(body);
  const script = scripts.find((s) => turn.userText.includes(s.match));
  const step = script?.steps[turn.calls];
  if (!step) return undefined;
  if (!step.tool) return { text: String(step.text ?? "") };
  const args = fillArguments(step.arguments ?? {}, turn);
  // OpenClaw's tool search offers most tools only through `tool_call {id, args}`.
  const offered = (Array.isArray(body?.tools) ? body.tools : []).map((t) => t?.function?.name ?? t?.name);
  if (!offered.includes(step.tool) && offered.includes("tool_call")) return { tool: "tool_call", arguments: { id: step.tool, args } };
  return { tool: step.tool, arguments: args };
}

function chunks(text) {
  const out = [];
  for (let i = 0; i < text.length; i += CHUNK) out.push(text.slice(i, i + CHUNK));
  return out;
}

const tokens = (s) => Math.max(1, Math.ceil(s.length / 4));

function sendJson(res, status, value) {
  const data = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(data) });
  res.end(data);
}

function sse(res) {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
}

function chatCompletion(res, body, answer, usage, ids) {
  const base = { id: ids.chat, created: ids.created, model: body.model ?? MODEL_ID };
  const call = answer.tool && { id: ids.call, type: "function", function: { name: answer.tool, arguments: JSON.stringify(answer.arguments) } };
  const finish = call ? "tool_calls" : "stop";
  if (!body.stream) {
    const message = call ? { role: "assistant", content: null, tool_calls: [call] } : { role: "assistant", content: answer.text };
    sendJson(res, 200, {
      ...base,
      object: "chat.completion",
      choices: [{ index: 0, message, finish_reason: finish }],
      usage,
    });
    return;
  }
  sse(res);
  const chunk = (delta, finishReason, extra = {}) =>
    res.write(
      `data: ${JSON.stringify({
        ...base,
        object: "chat.completion.chunk",
        choices: [{ index: 0, delta, finish_reason: finishReason }],
        ...extra,
      })}\n\n`,
    );
  chunk({ role: "assistant", content: "" }, null);
  if (call) {
    chunk({ tool_calls: [{ index: 0, id: call.id, type: "function", function: { name: call.function.name, arguments: "" } }] }, null);
    for (const c of chunks(call.function.arguments)) chunk({ tool_calls: [{ index: 0, function: { arguments: c } }] }, null);
  } else {
    for (const c of chunks(answer.text)) chunk({ content: c }, null);
  }
  chunk({}, finish, { usage });
  res.end("data: [DONE]\n\n");
}

function responsesApi(res, body, answer, usage, ids) {
  const usageR = { input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens, total_tokens: usage.total_tokens };
  const response = (status, output, extra = {}) => ({
    id: ids.response,
    object: "response",
    created_at: ids.created,
    model: body.model ?? MODEL_ID,
    status,
    output,
    ...extra,
  });
  const item = answer.tool
    ? { type: "function_call", id: ids.item, call_id: ids.call, name: answer.tool, arguments: JSON.stringify(answer.arguments), status: "completed" }
    : { type: "message", id: ids.item, role: "assistant", status: "completed", content: [{ type: "output_text", text: answer.text, annotations: [] }] };
  if (!body.stream) {
    sendJson(res, 200, response("completed", [item], { usage: usageR }));
    return;
  }
  sse(res);
  let seq = 0;
  const event = (type, data) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`);
  event("response.created", { response: response("in_progress", []) });
  if (answer.tool) {
    event("response.output_item.added", { output_index: 0, item: { ...item, status: "in_progress", arguments: "" } });
    for (const c of chunks(item.arguments)) event("response.function_call_arguments.delta", { item_id: ids.item, output_index: 0, delta: c });
    event("response.function_call_arguments.done", { item_id: ids.item, output_index: 0, arguments: item.arguments });
  } else {
    const part = item.content[0];
    const at = { item_id: ids.item, output_index: 0, content_index: 0 };
    event("response.output_item.added", { output_index: 0, item: { ...item, status: "in_progress", content: [] } });
    event("response.content_part.added", { ...at, part: { ...part, text: "" } });
    for (const c of chunks(answer.text)) event("response.output_text.delta", { ...at, delta: c });
    event("response.output_text.done", { ...at, text: answer.text });
  }
  event("response.output_item.done", { output_index: 0, item });
  event("response.completed", { response: response("completed", [item], { usage: usageR }) });
  res.end();
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    let size = 0;
    req.on("data", (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error("body too large"));
        req.destroy();
      } else parts.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    req.on("error", reject);
  });
}

/**
 * Starts the fake on 127.0.0.1. Resolves to `{url, port, requests, reset, close}` where
 * `url` is the provider base URL (`http://127.0.0.1:<port>/v1`).
 */
export async function startFakeLlm({ port = 0, onRequest } = {}) {
  const records = [];
  const scripts = [];
  let seq = 0;
  let counter = 0;
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    const path = url.pathname.replace(/\/+$/, "") || "/";
    try {
      if (req.method === "GET" && path === "/__requests") {
        const since = Number(url.searchParams.get("since") ?? 0);
        return sendJson(res, 200, records.filter((r) => r.seq >= since));
      }
      if (req.method === "POST" && path === "/__reset") {
        records.length = 0;
        scripts.length = 0;
        return sendJson(res, 200, { ok: true });
      }
      if (req.method === "POST" && path === "/__script") {
        let script;
        try {
          script = JSON.parse(await readBody(req));
        } catch {
          script = undefined;
        }
        const valid =
          typeof script?.match === "string" &&
          script.match !== "" &&
          Array.isArray(script.steps) &&
          script.steps.every((st) => (typeof st?.tool === "string" && st.tool !== "") || typeof st?.text === "string");
        if (!valid) return sendJson(res, 400, { error: { message: "body must be {match, steps: [{tool, arguments} | {text}]}", type: "invalid_request_error" } });
        scripts.push({ match: script.match, steps: script.steps });
        return sendJson(res, 200, { ok: true, scripts: scripts.length });
      }
      if (req.method === "GET" && path === "/v1/models") {
        return sendJson(res, 200, { object: "list", data: [{ id: MODEL_ID, object: "model", owned_by: "fake" }] });
      }
      const kind = req.method === "POST" && { "/v1/chat/completions": "chat", "/v1/responses": "responses" }[path];
      if (!kind) return sendJson(res, 404, { error: { message: `no route ${req.method} ${path}`, type: "not_found" } });
      const at = Date.now();
      const raw = await readBody(req);
      let body;
      try {
        body = JSON.parse(raw);
      } catch {
        return sendJson(res, 400, { error: { message: "invalid JSON body", type: "invalid_request_error" } });
      }
      const text = extractText(body);
      let answer;
      try {
        answer = scriptStep(scripts, body);
      } catch (err) {
        answer = { text: `SCRIPT ERROR: ${err.message}` };
      }
      answer ??= { text: `ACK: ${text}` };
      const reply = answer.text ?? "";
      const users = userMessages(body);
      const record = {
        seq: seq++,
        at,
        path,
        model: body.model ?? null,
        stream: Boolean(body.stream),
        messages: Array.isArray(body.messages) ? body.messages.length : Array.isArray(body.input) ? body.input.length : 1,
        tools: Array.isArray(body.tools) ? body.tools.length : 0,
        text,
        reply,
        toolCall: answer.tool ? { name: answer.tool, arguments: answer.arguments } : null,
        userTail: (users[users.length - 1] ?? "").slice(-500),
        body,
        doneAt: null,
      };
      records.push(record);
      const out = answer.tool ? JSON.stringify(answer.arguments) : reply;
      const usage = { prompt_tokens: tokens(raw), completion_tokens: tokens(out), total_tokens: tokens(raw) + tokens(out) };
      const n = ++counter;
      const ids = { chat: `chatcmpl-fake-${n}`, response: `resp_fake_${n}`, item: answer.tool ? `fc_fake_${n}` : `msg_fake_${n}`, call: `call_fake_${n}`, created: Math.floor(at / 1000) };
      if (kind === "chat") chatCompletion(res, body, answer, usage, ids);
      else responsesApi(res, body, answer, usage, ids);
      record.doneAt = Date.now();
      onRequest?.(record);
    } catch (err) {
      if (!res.headersSent) sendJson(res, 500, { error: { message: String(err?.message ?? err), type: "server_error" } });
      else res.destroy();
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const actual = server.address().port;
  return {
    url: `http://127.0.0.1:${actual}/v1`,
    port: actual,
    requests: () => records,
    reset: () => {
      records.length = 0;
      scripts.length = 0;
    },
    script: (script) => scripts.push(script),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf("--port");
  const port = i > 0 ? Number(process.argv[i + 1]) : 0;
  const fake = await startFakeLlm({
    port,
    onRequest: ({ body, ...rest }) => process.stdout.write(`${JSON.stringify(rest)}\n`),
  });
  process.stdout.write(`${fake.url}\n`);
  const stop = () => fake.close().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

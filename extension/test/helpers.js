// Fakes shared by the extension tests: plugin api + runtime, IncomingMessage /
// ServerResponse, and a loopback HTTP server standing in for the sidecar.
import { EventEmitter } from "node:events";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const PASSWORD = "s3cret-pass";

export function baseConfig(zoom = {}, extra = {}) {
  return {
    gateway: { port: 19999 },
    channels: {
      zoom: {
        clientId: "cid",
        clientSecret: "csecret",
        zoomAccountId: "acct",
        subscriptionId: "sub",
        sender: "bot@corp.example",
        password: PASSWORD,
        dmPolicy: "allowlist",
        allowFrom: ["alice@corp.example"],
        ...zoom,
      },
    },
    ...extra,
  };
}

/** A fresh state dir per runtime: the dedup log and the sidecar files live under it. */
export function tempStateDir() {
  return mkdtempSync(join(tmpdir(), "zoom-state-"));
}

export function fakeRuntime({ onDispatch, stateDir = tempStateDir(), storePath } = {}) {
  const calls = {
    resolveAgentRoute: [],
    finalizeInboundContext: [],
    dispatch: [],
    enqueueSystemEvent: [],
    formatAgentEnvelope: [],
    readSessionUpdatedAt: [],
  };
  const runtime = {
    config: {},
    state: { resolveStateDir: () => stateDir },
    system: {
      enqueueSystemEvent: (text, opts) => calls.enqueueSystemEvent.push({ text, opts }),
    },
    channel: {
      routing: {
        resolveAgentRoute: (input) => {
          calls.resolveAgentRoute.push(input);
          return {
            agentId: "main",
            accountId: input.accountId,
            sessionKey: `agent:main:zoom:${input.peer.kind}:${input.peer.id}`,
          };
        },
      },
      session: {
        resolveStorePath: (store, { agentId }) => storePath ?? join(stateDir, `store-${agentId}.json`),
        readSessionUpdatedAt: (args) => {
          calls.readSessionUpdatedAt.push(args);
          return 1_700_000_000_000;
        },
      },
      reply: {
        resolveEnvelopeFormatOptions: () => ({ fake: true }),
        formatAgentEnvelope: (args) => {
          calls.formatAgentEnvelope.push(args);
          return `[Zoom ${args.from}] ${args.body}`;
        },
        finalizeInboundContext: (ctx) => {
          calls.finalizeInboundContext.push(ctx);
          return { ...ctx, finalized: true };
        },
        dispatchReplyWithBufferedBlockDispatcher: async (args) => {
          calls.dispatch.push(args);
          if (onDispatch) return onDispatch(args);
          // Both hosts start an agent run for a chat message, then deliver its reply.
          args.replyOptions?.onAgentRunStart?.("run-1");
          await args.dispatcherOptions.deliver({ text: `ACK: ${args.ctx.RawBody}` });
        },
      },
    },
  };
  return { runtime, calls, stateDir };
}

export function fakeApi({ config, runtime, source } = {}) {
  const channels = [];
  const routes = [];
  const logs = [];
  const api = {
    id: "zoom",
    name: "Zoom",
    source,
    config,
    runtime: runtime ?? fakeRuntime().runtime,
    logger: {
      info: (m) => logs.push(["info", m]),
      warn: (m) => logs.push(["warn", m]),
      error: (m) => logs.push(["error", m]),
    },
    registerChannel: (reg) => channels.push(reg.plugin ?? reg),
    registerHttpRoute: (route) => routes.push(route),
  };
  return { api, channels, routes, logs };
}

export function fakeReq({ method = "POST", url = "/zoom-webhook", headers = {}, body, remoteAddress = "127.0.0.1" }) {
  const req = new EventEmitter();
  req.method = method;
  req.url = url;
  req.headers = headers;
  req.socket = { remoteAddress };
  setImmediate(() => {
    if (body !== undefined) {
      const buf = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
      for (let i = 0; i < buf.length; i += 64 * 1024) req.emit("data", buf.subarray(i, i + 64 * 1024));
    }
    req.emit("end");
  });
  return req;
}

export function fakeRes() {
  const res = { statusCode: 200, headers: {}, body: undefined, ended: false };
  res.setHeader = (name, value) => {
    res.headers[name.toLowerCase()] = value;
  };
  res.end = (body) => {
    res.body = body === undefined ? "" : String(body);
    res.ended = true;
  };
  return res;
}

/** A BlueBubbles-style `new-message` webhook body as the sidecar sends it. */
export function newMessage({ guid = "msg-1", text = "hello", sender = "alice@corp.example", chatGuid, zoom, ...rest } = {}) {
  const chat = chatGuid ?? `zoom;-;${sender}`;
  return {
    type: "new-message",
    data: {
      guid,
      text,
      handle: { address: sender, displayName: rest.displayName ?? "Alice" },
      isFromMe: false,
      dateCreated: 1_767_225_600_000,
      attachments: [],
      chats: [{ guid: chat, displayName: rest.chatName ?? "" }],
      ...(rest.threadOriginatorGuid ? { threadOriginatorGuid: rest.threadOriginatorGuid } : {}),
      ...(zoom ? { zoom } : {}),
    },
  };
}

/** Loopback sidecar stand-in; `routes` maps "METHOD /path" to (req, body) => [status, json]. */
export async function startSidecar(routes = {}) {
  const requests = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url, "http://x");
      const text = Buffer.concat(chunks).toString("utf8");
      const body = text ? JSON.parse(text) : undefined;
      const record = { method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body };
      requests.push(record);
      const key = `${req.method} ${url.pathname}`;
      const fallback = {
        "GET /api/v1/ping": () => [200, { status: 200, message: "Ping received!", data: "pong" }],
        "GET /api/v1/server/info": () => [200, { status: 200, message: "Success", data: { server_version: "0.1.0" } }],
        "POST /api/v1/message/text": () => [
          200,
          { status: 200, message: "Message sent!", data: { guid: `zm-${requests.length}`, tempGuid: body?.tempGuid } },
        ],
        "GET /status": () => [200, { zoom: { connection: { state: "connected" }, last_event_at_ms: 1_700_000_000_500 } }],
      };
      const handler = routes[key] ?? fallback[key];
      const [status, json] = handler ? handler(record) : [404, { status: 404, message: "not found" }];
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(json));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return { url, requests, close: () => new Promise((resolve) => server.close(resolve)) };
}

/** Polls `check` every 10 ms until it returns truthy or `timeoutMs` passes. */
export async function waitFor(check, timeoutMs = 5_000, what = "condition") {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

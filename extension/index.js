// Moltbot / Clawdbot / OpenClaw extension for the `zoom` channel.
//
// A thin shell around the moltbot-zoom sidecar (Rust): it registers the channel, sends
// outbound text through the sidecar's BlueBubbles-style REST API, supervises (or attaches
// to) the sidecar, and turns the sidecar's `new-message` webhooks into agent turns or
// system events. Rendering, delivery modes and meeting reply targets live in the sidecar.
//
// Plain ESM, no dependencies, no SDK imports. `register(api)` is synchronous and has no
// side effects: it also runs in every CLI process.

import { spawn as nodeSpawn } from "node:child_process";
import { randomUUID, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const PLUGIN_ID = "zoom";
const PLUGIN_NAME = "Zoom";
const PLUGIN_DESCRIPTION = "Zoom meetings and Team Chat as a Moltbot chat channel (Rust sidecar).";
const DEFAULT_INBOUND_PATH = "/zoom-webhook";
const DEFAULT_ACCOUNT_ID = "default";
const DEFAULT_LISTEN = "127.0.0.1:18790";
const DEFAULT_GATEWAY_PORT = 18789;
const SEND_TIMEOUT_MS = 10_000;
const MAX_BODY_BYTES = 1024 * 1024;
const SEEN_CAPACITY = 2048;
/** The system sender of meeting-event conversations (the authenticated sidecar). */
const EVENT_SENDER = "zoom";

// Used when package.json (generated from plugin.toml) cannot be read; a Rust test in
// crates/moltbot-zoom/src/extension.rs keeps these lines in step with plugin.toml.
const FALLBACK_META = {
  id: "zoom",
  label: "Zoom",
  selectionLabel: "Zoom (meetings + Team Chat)",
  detailLabel: "Zoom meeting events and Team Chat",
  blurb: "meeting events and Team Chat messages via the moltbot-zoom sidecar.",
  docsPath: "/channels/zoom",
  docsLabel: "zoom",
  order: 75,
};

const DEFAULT_OPTIONS = {
  backoff: { initialMs: 1_000, maxMs: 30_000, resetAfterMs: 60_000 },
  killGraceMs: 5_000,
  healthIntervalMs: 30_000,
};

// ---------------------------------------------------------------------------------------
// Package files next to this module

function moduleDir(api) {
  if (typeof api?.source === "string" && api.source) return dirname(api.source);
  try {
    return dirname(fileURLToPath(import.meta.url));
  } catch {
    return process.cwd();
  }
}

function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}

/** Channel meta from the generated package.json next to this file, else the fallback. */
export function readChannelMeta(dir) {
  const pkg = readJson(join(dir, "package.json"));
  const channel = pkg?.moltbot?.channel ?? pkg?.openclaw?.channel ?? pkg?.clawdbot?.channel;
  if (!channel || typeof channel !== "object") return { ...FALLBACK_META };
  return { ...FALLBACK_META, ...channel, id: PLUGIN_ID };
}

// ---------------------------------------------------------------------------------------
// Config

function zoomSection(cfg) {
  const section = cfg?.channels?.zoom;
  return section && typeof section === "object" ? section : undefined;
}

function accountEntries(section) {
  const accounts = section?.accounts;
  if (!accounts || typeof accounts !== "object") return [];
  return Object.keys(accounts).filter((id) => accounts[id] && typeof accounts[id] === "object");
}

export function listAccountIds(cfg) {
  const section = zoomSection(cfg);
  if (!section) return [];
  const ids = accountEntries(section);
  return ids.length ? ids : [DEFAULT_ACCOUNT_ID];
}

export function defaultAccountId(cfg) {
  const ids = accountEntries(zoomSection(cfg));
  if (ids.length === 0 || ids.includes(DEFAULT_ACCOUNT_ID)) return DEFAULT_ACCOUNT_ID;
  return ids[0];
}

function present(value) {
  return typeof value === "string" ? value.trim() !== "" : value !== undefined && value !== null;
}

/** The keys an account still needs, in config order. */
export function missingKeys(config) {
  const missing = [];
  if (!present(config.password)) missing.push("password");
  if (present(config.sidecarUrl)) return missing;
  if (!present(config.clientId)) missing.push("clientId");
  if (!present(config.clientSecret)) missing.push("clientSecret");
  if ((config.grant ?? "account") === "account" && !present(config.zoomAccountId)) {
    missing.push("zoomAccountId");
  }
  const transport = config.transport ?? "websocket";
  if (transport === "websocket" && !present(config.subscriptionId)) missing.push("subscriptionId");
  if (transport === "webhook" && !present(config.webhookSecretToken)) {
    missing.push("webhookSecretToken");
  }
  const sendAs = config.sendAs ?? "user";
  if (sendAs === "user" && !present(config.sender)) missing.push("sender");
  if (sendAs === "chatbot" && !present(config.robotJid)) missing.push("robotJid");
  return missing.sort((a, b) => keyOrder(a) - keyOrder(b));
}

const KEY_ORDER = [
  "zoomAccountId",
  "clientId",
  "clientSecret",
  "subscriptionId",
  "webhookSecretToken",
  "sender",
  "robotJid",
  "password",
];
function keyOrder(key) {
  return KEY_ORDER.indexOf(key);
}

function loopbackBase(listen) {
  const value = String(listen || DEFAULT_LISTEN).trim();
  const match = /^(.*):(\d+)$/.exec(value);
  if (!match) return `http://${value}`;
  let host = match[1];
  if (host === "" || host === "0.0.0.0" || host === "[::]" || host === "::") host = "127.0.0.1";
  return `http://${host}:${match[2]}`;
}

export function resolveAccount(cfg, accountId) {
  const section = zoomSection(cfg) ?? {};
  const id = accountId || defaultAccountId(cfg);
  const { accounts, ...base } = section;
  const own = accounts && typeof accounts === "object" ? accounts[id] : undefined;
  const config = { ...base, ...(own && typeof own === "object" ? own : {}) };
  const missing = missingKeys(config);
  const sidecarUrl = present(config.sidecarUrl) ? String(config.sidecarUrl).trim() : undefined;
  return {
    accountId: id,
    name: present(config.name) ? String(config.name) : id,
    enabled: section.enabled !== false && config.enabled !== false,
    configured: missing.length === 0,
    missing,
    configPath: own ? `channels.zoom.accounts.${id}.` : "channels.zoom.",
    baseUrl: (sidecarUrl ?? loopbackBase(config.listen)).replace(/\/+$/, ""),
    inboundPath: normalizePath(config.inboundPath),
    config,
  };
}

function normalizePath(path) {
  const value = present(path) ? String(path).trim() : DEFAULT_INBOUND_PATH;
  return value.startsWith("/") ? value : `/${value}`;
}

export function unconfiguredReason(account) {
  const missing = account?.missing ?? [];
  if (missing.length === 0) return undefined;
  return missing.map((key) => `${account.configPath}${key} is required`).join("; ");
}

function normalizeAllowEntry(entry) {
  const value = String(entry ?? "").trim();
  if (value === "*") return "*";
  const stripped = value.replace(/^zoom:/i, "");
  return stripped.includes("@") ? stripped.toLowerCase() : stripped;
}

function allowList(config) {
  const list = Array.isArray(config.allowFrom) ? config.allowFrom : [];
  return list.map(normalizeAllowEntry).filter(Boolean);
}

/** Whether a Team Chat sender (or the whole conversation) is on the allow list. */
function isAllowed(config, sender, chatGuid) {
  const list = allowList(config);
  if (list.includes("*")) return true;
  const who = normalizeAllowEntry(sender);
  return list.some((entry) => entry === who || (chatGuid && normalizeTarget(entry) === chatGuid));
}

function isSenderPermitted(config, sender, chatGuid) {
  const policy = config.dmPolicy ?? "allowlist";
  if (policy === "disabled") return false;
  if (policy === "open") return true;
  return isAllowed(config, sender, chatGuid);
}

// ---------------------------------------------------------------------------------------
// Targets: chat GUIDs `zoom;-;<user>` (direct) and `zoom;+;<id>` (group / channel)

/** Normalises a target to a chat GUID, or returns undefined when it is not one. */
export function normalizeTarget(raw) {
  let value = String(raw ?? "").trim();
  for (;;) {
    const stripped = value.replace(/^(zoom|chat_guid|chatguid):(?!;)/i, "").trim();
    if (stripped === value) break;
    value = stripped;
  }
  if (!value) return undefined;
  const guid = /^zoom;([-+]);(.+)$/i.exec(value);
  if (guid) {
    const id = guid[2].trim();
    if (!id) return undefined;
    if (guid[1] === "-") return `zoom;-;${id.includes("@") ? id.toLowerCase() : id}`;
    return `zoom;+;${id}`;
  }
  const channel = /^channel:(.+)$/i.exec(value);
  if (channel) return `zoom;+;channel:${channel[1].trim()}`;
  const user = /^(user|email):(.+)$/i.exec(value);
  if (user) value = user[2].trim();
  if (/^[^\s@;]+@[^\s@;]+$/.test(value)) return `zoom;-;${value.toLowerCase()}`;
  if (/^[A-Za-z0-9_.-]+$/.test(value)) return `zoom;-;${value}`;
  return undefined;
}

function looksLikeId(raw) {
  const value = String(raw ?? "").trim();
  return (
    /^((zoom|chat_guid):)?zoom;[-+];./i.test(value) ||
    /^channel:./i.test(value) ||
    /^[^\s@;]+@[^\s@;]+$/.test(value)
  );
}

// ---------------------------------------------------------------------------------------
// Sidecar REST client (BlueBubbles API; auth by ?password= and Authorization: Bearer)

function secretEquals(expected, given) {
  if (typeof expected !== "string" || expected === "" || typeof given !== "string") return false;
  const a = Buffer.from(expected.trim());
  const b = Buffer.from(given.trim());
  if (a.length !== b.length) {
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}

function sidecarError(path, status, text) {
  let detail = text.trim();
  try {
    const body = JSON.parse(text);
    detail = body?.error?.message || body?.message || detail;
    if (body?.message && body?.error?.message && body.message !== body.error.message) {
      detail = `${body.message}: ${body.error.message}`;
    }
  } catch {
    // not JSON: keep the text
  }
  if (detail.length > 500) detail = `${detail.slice(0, 500)}…`;
  return new Error(`Zoom sidecar ${path} failed (${status}): ${detail || "no details"}`);
}

async function sidecarRequest(fetchImpl, account, method, path, body, timeoutMs = SEND_TIMEOUT_MS) {
  const password = account.config.password;
  if (!present(password)) throw new Error(`${account.configPath}password is required`);
  const url = new URL(account.baseUrl + path);
  url.searchParams.set("password", String(password).trim());
  const headers = { authorization: `Bearer ${String(password).trim()}`, accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  let res;
  try {
    res = await fetchImpl(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    // The URL carries the password: name only the base.
    const reason = err?.name === "TimeoutError" ? `timed out after ${timeoutMs} ms` : err?.message;
    throw new Error(`Zoom sidecar ${path} at ${account.baseUrl} unreachable: ${reason}`);
  }
  const text = await res.text();
  if (!res.ok) throw sidecarError(path, res.status, text);
  try {
    return text ? JSON.parse(text) : {};
  } catch {
    return {};
  }
}

// ---------------------------------------------------------------------------------------
// Inbound webhook helpers

function tokenOf(req) {
  const auth = req.headers?.authorization;
  if (typeof auth === "string") {
    const match = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (match) return match[1];
  }
  try {
    return new URL(req.url ?? "/", "http://localhost").searchParams.get("password") ?? undefined;
  } catch {
    return undefined;
  }
}

function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers?.["content-length"]);
    if (Number.isFinite(declared) && declared > limit) {
      reject(Object.assign(new Error("payload too large"), { status: 413 }));
      return;
    }
    const chunks = [];
    let size = 0;
    let done = false;
    req.on("data", (chunk) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        reject(Object.assign(new Error("payload too large"), { status: 413 }));
        return;
      }
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    });
    req.on("end", () => {
      if (!done) {
        done = true;
        resolve(Buffer.concat(chunks));
      }
    });
    req.on("error", (err) => {
      if (!done) {
        done = true;
        reject(err);
      }
    });
  });
}

function reply(res, status, text, headers = {}) {
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader("content-type", "text/plain; charset=utf-8");
  res.end(text);
}

function toMillis(value) {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) return Date.now();
  return n < 1e12 ? n * 1000 : n;
}

/** The fields of a BlueBubbles `new-message` Message the channel uses, or undefined. */
export function parseInboundMessage(data) {
  if (!data || typeof data !== "object") return undefined;
  const guid = typeof data.guid === "string" ? data.guid : undefined;
  const chat = Array.isArray(data.chats) ? data.chats[0] : undefined;
  const chatGuid = chat?.guid ?? data.chatGuid;
  const handle = data.handle && typeof data.handle === "object" ? data.handle : undefined;
  const sender = handle?.address ?? (typeof data.handle === "string" ? data.handle : undefined);
  if (!guid || typeof chatGuid !== "string" || !chatGuid || typeof sender !== "string" || !sender) {
    return undefined;
  }
  const zoom = data.zoom && typeof data.zoom === "object" ? data.zoom : {};
  let kind = zoom.conversationKind;
  if (!["direct", "group", "channel"].includes(kind)) {
    if (chatGuid.includes(";-;")) kind = "direct";
    else if (chatGuid.includes(";+;channel:")) kind = "channel";
    else kind = "group";
  }
  const senderName = handle?.displayName ?? handle?.name ?? zoom.senderName ?? sender;
  const threadOf = data.threadOriginatorGuid;
  return {
    guid,
    text: typeof data.text === "string" ? data.text : "",
    sender,
    senderName: String(senderName),
    chatGuid,
    kind,
    label: zoom.conversationLabel ?? (present(chat?.displayName) ? chat.displayName : undefined),
    timestamp: toMillis(data.dateCreated ?? data.date),
    replyToId: typeof threadOf === "string" && threadOf && threadOf !== guid ? threadOf : undefined,
    fromMe: data.isFromMe === true,
    mode: ["message", "context", "drop"].includes(zoom.mode) ? zoom.mode : "message",
    eventType: zoom.eventType,
  };
}

// ---------------------------------------------------------------------------------------
// Sidecar supervision

function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

function pipeLines(stream, write) {
  if (!stream) return;
  createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => {
    if (line.trim()) write(line);
  });
}

function logLevelOf(line) {
  if (/\bERROR\b/.test(line)) return "error";
  if (/\bWARN\b/.test(line)) return "warn";
  return "info";
}

/** Runs one child until it exits, or until `signal` aborts (SIGTERM, SIGKILL after grace). */
function runChild(spawnImpl, command, args, env, log, prefix, signal, killGraceMs) {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawnImpl(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    } catch (err) {
      resolve({ error: err });
      return;
    }
    let settled = false;
    let killTimer;
    const onAbort = () => {
      child.kill("SIGTERM");
      killTimer = setTimeout(() => child.kill("SIGKILL"), killGraceMs);
    };
    const finish = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(killTimer);
      signal.removeEventListener("abort", onAbort);
      resolve(result);
    };
    const write = (line) => {
      const level = logLevelOf(line);
      (log[level] ?? log.info)?.call(log, `${prefix} sidecar: ${line}`);
    };
    pipeLines(child.stdout, write);
    pipeLines(child.stderr, write);
    child.once("error", (error) => finish({ error }));
    child.once("exit", (code, sig) => finish({ code, signal: sig }));
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
}

// ---------------------------------------------------------------------------------------
// The plugin

/**
 * Builds the plugin definition. `options` exist for tests: `fetch`, `spawn`, `backoff`
 * `{initialMs, maxMs, resetAfterMs}`, `killGraceMs`, `healthIntervalMs`, `now`.
 */
export function createZoomPlugin(options = {}) {
  const opts = {
    ...DEFAULT_OPTIONS,
    ...options,
    backoff: { ...DEFAULT_OPTIONS.backoff, ...options.backoff },
  };
  const fetchImpl = (...args) => (opts.fetch ?? globalThis.fetch)(...args);
  const spawnImpl = opts.spawn ?? nodeSpawn;

  function register(api) {
    const dir = moduleDir(api);
    const meta = readChannelMeta(dir);
    const runtime = api.runtime ?? {};
    const logger = api.logger ?? console;
    const seen = new Map();
    const statusSinks = new Map();

    function liveConfig() {
      const config = runtime.config;
      try {
        if (typeof config?.current === "function") return config.current() ?? api.config;
        if (typeof config?.loadConfig === "function") return config.loadConfig() ?? api.config;
      } catch (err) {
        logger.warn?.(`zoom: cannot read the live config: ${err?.message ?? err}`);
      }
      return api.config ?? {};
    }

    function patchStatus(accountId, patch) {
      statusSinks.get(accountId)?.(patch);
    }

    async function sendText({ cfg, to, text, accountId, replyToId }) {
      const account = resolveAccount(cfg ?? liveConfig(), accountId);
      const chatGuid = normalizeTarget(to);
      if (!chatGuid) throw new Error(`invalid Zoom target: ${to}`);
      const body = { chatGuid, message: String(text ?? ""), tempGuid: randomUUID() };
      if (present(replyToId)) body.selectedMessageGuid = String(replyToId);
      const res = await sidecarRequest(fetchImpl, account, "POST", "/api/v1/message/text", body);
      patchStatus(account.accountId, { lastOutboundAt: Date.now() });
      const messageId = res?.data?.guid ?? res?.guid ?? "ok";
      return { channel: PLUGIN_ID, messageId: String(messageId), chatId: chatGuid };
    }

    async function sendMedia(ctx) {
      const text = [ctx.text, ctx.mediaUrl].filter(present).join("\n");
      return sendText({ ...ctx, text });
    }

    async function probeAccount({ account, timeoutMs }) {
      const timeout = timeoutMs ?? SEND_TIMEOUT_MS;
      try {
        await sidecarRequest(fetchImpl, account, "GET", "/api/v1/ping", undefined, timeout);
        const info = await sidecarRequest(
          fetchImpl,
          account,
          "GET",
          "/api/v1/server/info",
          undefined,
          timeout,
        );
        return { ok: true, status: 200, server: info?.data ?? undefined };
      } catch (err) {
        const status = /\((\d{3})\)/.exec(err?.message ?? "");
        return { ok: false, status: status ? Number(status[1]) : null, error: err?.message };
      }
    }

    async function buildAccountSnapshot({ account, runtime: state, probe }) {
      const snapshot = {
        accountId: account.accountId,
        name: account.name,
        enabled: account.enabled,
        configured: account.configured,
        baseUrl: account.baseUrl,
        webhookPath: account.inboundPath,
        running: state?.running ?? false,
        connected: state?.connected ?? false,
        lastStartAt: state?.lastStartAt ?? null,
        lastStopAt: state?.lastStopAt ?? null,
        lastError: state?.lastError ?? null,
        lastInboundAt: state?.lastInboundAt ?? null,
        lastOutboundAt: state?.lastOutboundAt ?? null,
        probe,
      };
      if (!account.configured) return snapshot;
      try {
        const body = await sidecarRequest(fetchImpl, account, "GET", "/status", undefined, 3_000);
        const data = body?.data ?? body;
        const zoom = data?.zoom ?? data?.channel ?? data?.account ?? data;
        const state = zoom?.connection?.state ?? zoom?.connection ?? zoom?.state;
        snapshot.connected = zoom?.connected === true || state === "connected";
        const lastEvent = zoom?.last_event_at_ms ?? zoom?.lastEventAtMs ?? zoom?.lastInboundAt;
        if (lastEvent) snapshot.lastInboundAt = Math.max(snapshot.lastInboundAt ?? 0, lastEvent);
        const lastError = zoom?.last_error ?? zoom?.lastError;
        if (lastError) snapshot.lastError = lastError;
      } catch (err) {
        snapshot.connected = false;
        snapshot.lastError = snapshot.lastError ?? err?.message;
      }
      return snapshot;
    }

    function sidecarCommand(account) {
      if (present(account.config.sidecarPath)) return String(account.config.sidecarPath);
      const linked = readJson(join(dir, "sidecar.json"))?.path;
      if (present(linked)) return String(linked);
      return join(dir, "bin", "moltbot-zoom");
    }

    function stateDir() {
      try {
        const resolved = runtime.state?.resolveStateDir?.();
        if (present(resolved)) return resolved;
      } catch {
        // fall through to the environment
      }
      const env = process.env;
      return env.MOLTBOT_STATE_DIR || env.CLAWDBOT_STATE_DIR || env.OPENCLAW_STATE_DIR || undefined;
    }

    async function startAccount(ctx) {
      const cfg = ctx.cfg ?? liveConfig();
      const account = ctx.account ?? resolveAccount(cfg, ctx.accountId);
      const id = account.accountId;
      const prefix = `[${id}]`;
      const log = ctx.log ?? logger;
      const signal = ctx.abortSignal ?? new AbortController().signal;
      let status = { ...(ctx.getStatus?.() ?? {}) };
      const setStatus = (patch) => {
        status = { ...status, ...patch, accountId: id };
        ctx.setStatus?.(status);
      };
      statusSinks.set(id, setStatus);
      setStatus({
        running: true,
        connected: false,
        lastStartAt: Date.now(),
        lastError: null,
        baseUrl: account.baseUrl,
        webhookPath: account.inboundPath,
      });
      try {
        if (present(account.config.sidecarUrl)) {
          log.info?.(`${prefix} zoom channel started (attached to ${account.baseUrl})`);
          while (!signal.aborted) {
            try {
              await sidecarRequest(fetchImpl, account, "GET", "/api/v1/ping", undefined, 5_000);
              setStatus({ connected: true, lastError: null });
            } catch (err) {
              setStatus({ connected: false, lastError: err.message });
              log.warn?.(`${prefix} ${err.message}`);
            }
            await sleep(opts.healthIntervalMs, signal);
          }
        } else {
          await superviseSidecar(account, cfg, log, prefix, signal, setStatus);
        }
      } finally {
        if (statusSinks.get(id) === setStatus) statusSinks.delete(id);
        setStatus({ running: false, connected: false, lastStopAt: Date.now() });
      }
    }

    async function superviseSidecar(account, cfg, log, prefix, signal, setStatus) {
      const command = sidecarCommand(account);
      const port = cfg?.gateway?.port ?? DEFAULT_GATEWAY_PORT;
      const { accounts: _ignored, ...config } = account.config;
      const accountJson = {
        ...config,
        accountId: account.accountId,
        webhookUrl: `http://127.0.0.1:${port}${account.inboundPath}`,
      };
      const dirForState = stateDir();
      if (dirForState) accountJson.stateDir = dirForState;
      const env = { ...process.env, MOLTBOT_ZOOM_ACCOUNT_JSON: JSON.stringify(accountJson) };
      const { initialMs, maxMs, resetAfterMs } = opts.backoff;
      let delay = initialMs;
      let announced = false;
      while (!signal.aborted) {
        const startedAt = Date.now();
        const run = runChild(spawnImpl, command, ["run"], env, log, prefix, signal, opts.killGraceMs);
        if (!announced) {
          announced = true;
          log.info?.(`${prefix} zoom channel started (sidecar ${command})`);
        }
        const result = await run;
        if (signal.aborted) break;
        if (Date.now() - startedAt >= resetAfterMs) delay = initialMs;
        const why = result.error
          ? `failed to start: ${result.error.message}`
          : `exited (${result.signal ?? `code ${result.code}`})`;
        setStatus({ connected: false, lastError: `sidecar ${why}` });
        log.warn?.(`${prefix} sidecar ${why}; restarting in ${delay} ms`);
        await sleep(delay, signal);
        delay = Math.min(delay * 2, maxMs);
      }
    }

    async function processInbound(cfg, account, msg) {
      const channel = runtime.channel ?? {};
      const peer =
        msg.kind === "direct" ? { kind: "dm", id: msg.sender } : { kind: msg.kind, id: msg.chatGuid };
      const route = channel.routing.resolveAgentRoute({
        cfg,
        channel: PLUGIN_ID,
        accountId: account.accountId,
        peer,
      });
      if (msg.mode === "context") {
        runtime.system.enqueueSystemEvent(`Zoom: ${msg.text}`, {
          sessionKey: route.sessionKey,
          agentId: route.agentId,
          contextKey: `zoom:event:${msg.guid}`,
        });
        return;
      }
      let previousTimestamp;
      const session = channel.session;
      if (typeof session?.resolveStorePath === "function") {
        try {
          const storePath = session.resolveStorePath(cfg?.session?.store, { agentId: route.agentId });
          previousTimestamp = session.readSessionUpdatedAt?.({ storePath, sessionKey: route.sessionKey });
        } catch {
          previousTimestamp = undefined;
        }
      }
      const replyApi = channel.reply;
      const body =
        typeof replyApi.formatAgentEnvelope === "function"
          ? replyApi.formatAgentEnvelope({
              channel: "Zoom",
              from: msg.senderName,
              timestamp: msg.timestamp,
              previousTimestamp,
              envelope: replyApi.resolveEnvelopeFormatOptions?.(cfg),
              body: msg.text,
            })
          : msg.text;
      const isDirect = msg.kind === "direct";
      const label = msg.label ?? (isDirect ? msg.senderName : msg.chatGuid);
      const fromTeamChat = msg.sender !== EVENT_SENDER;
      const payload = {
        Body: body,
        BodyForAgent: body,
        RawBody: msg.text,
        CommandBody: msg.text,
        BodyForCommands: msg.text,
        From: isDirect ? `zoom:${msg.sender}` : `zoom:group:${msg.chatGuid}`,
        To: `zoom:${msg.chatGuid}`,
        OriginatingTo: `zoom:${msg.chatGuid}`,
        SessionKey: route.sessionKey,
        AccountId: route.accountId ?? account.accountId,
        ChatType: msg.kind,
        ConversationLabel: label,
        SenderName: msg.senderName,
        SenderId: msg.sender,
        MessageSid: msg.guid,
        ReplyToId: msg.replyToId,
        Timestamp: msg.timestamp,
        Provider: PLUGIN_ID,
        Surface: PLUGIN_ID,
        OriginatingChannel: PLUGIN_ID,
        WasMentioned: true,
        CommandAuthorized: fromTeamChat && isAllowed(account.config, msg.sender, msg.chatGuid),
      };
      if (!isDirect) payload.GroupSubject = label;
      const ctx =
        typeof replyApi.finalizeInboundContext === "function"
          ? replyApi.finalizeInboundContext(payload)
          : payload;
      await replyApi.dispatchReplyWithBufferedBlockDispatcher({
        ctx,
        cfg,
        dispatcherOptions: {
          deliver: async (out) => {
            const urls = Array.isArray(out?.mediaUrls) ? out.mediaUrls : [out?.mediaUrl];
            const text = [out?.text, ...urls].filter(present).join("\n");
            if (!text) return;
            await sendText({
              cfg,
              to: msg.chatGuid,
              text,
              accountId: account.accountId,
              replyToId: out?.replyToId,
            });
          },
          onError: (err, info) => {
            logger.error?.(
              `zoom: [${account.accountId}] ${info?.kind ?? "reply"} failed: ${err?.message ?? err}`,
            );
          },
        },
      });
    }

    function remember(key) {
      if (seen.has(key)) return false;
      seen.set(key, true);
      if (seen.size > SEEN_CAPACITY) seen.delete(seen.keys().next().value);
      return true;
    }

    async function handleInbound(req, res, path) {
      if ((req.method ?? "GET").toUpperCase() !== "POST") {
        reply(res, 405, "method not allowed", { allow: "POST" });
        return true;
      }
      const cfg = liveConfig();
      const token = tokenOf(req);
      const account = listAccountIds(cfg)
        .map((id) => resolveAccount(cfg, id))
        .find((a) => a.enabled && a.inboundPath === path && secretEquals(a.config.password, token));
      if (!account) {
        reply(res, 401, "unauthorized");
        return true;
      }
      let raw;
      try {
        raw = await readBody(req, MAX_BODY_BYTES);
      } catch (err) {
        reply(res, err?.status === 413 ? 413 : 400, err?.status === 413 ? "payload too large" : "bad request");
        return true;
      }
      let payload;
      try {
        payload = JSON.parse(raw.toString("utf8"));
      } catch {
        reply(res, 400, "invalid json");
        return true;
      }
      if (payload?.type !== "new-message") {
        reply(res, 200, "ignored");
        return true;
      }
      const msg = parseInboundMessage(payload.data);
      if (!msg) {
        reply(res, 400, "invalid payload");
        return true;
      }
      const teamChat = msg.sender !== EVENT_SENDER;
      if (
        msg.fromMe ||
        msg.mode === "drop" ||
        (teamChat && !isSenderPermitted(account.config, msg.sender, msg.chatGuid)) ||
        !remember(`${account.accountId}\u0000${msg.guid}`)
      ) {
        reply(res, 200, "ok");
        return true;
      }
      patchStatus(account.accountId, { lastInboundAt: Date.now() });
      reply(res, 200, "ok");
      try {
        await processInbound(cfg, account, msg);
      } catch (err) {
        logger.error?.(`zoom: [${account.accountId}] inbound ${msg.guid} failed: ${err?.message ?? err}`);
      }
      return true;
    }

    const plugin = {
      id: PLUGIN_ID,
      meta,
      capabilities: {
        chatTypes: ["direct", "group", "channel"],
        threads: true,
        reply: true,
        media: true,
      },
      reload: { configPrefixes: ["channels.zoom"] },
      config: {
        listAccountIds,
        resolveAccount,
        defaultAccountId,
        isEnabled: (account) => account?.enabled !== false,
        isConfigured: (account) => account?.configured === true,
        unconfiguredReason,
        describeAccount: (account) => ({
          accountId: account.accountId,
          name: account.name,
          enabled: account.enabled,
          configured: account.configured,
          baseUrl: account.baseUrl,
          webhookPath: account.inboundPath,
        }),
        resolveAllowFrom: ({ cfg, accountId }) =>
          (resolveAccount(cfg, accountId).config.allowFrom ?? []).map(String),
        formatAllowFrom: ({ allowFrom }) =>
          (allowFrom ?? []).map(normalizeAllowEntry).filter(Boolean),
      },
      messaging: {
        normalizeTarget,
        targetResolver: {
          looksLikeId,
          hint: "<email | zoom;-;<user> | zoom;+;channel:<id>>",
        },
      },
      security: {
        resolveDmPolicy: ({ cfg, accountId, account }) => {
          const resolved = account ?? resolveAccount(cfg, accountId);
          const base = resolved.configPath;
          return {
            policy: resolved.config.dmPolicy ?? "allowlist",
            allowFrom: (resolved.config.allowFrom ?? []).map(String),
            policyPath: `${base}dmPolicy`,
            allowFromPath: base,
            approveHint: `Add the sender's email or user id to ${base}allowFrom`,
            normalizeEntry: normalizeAllowEntry,
          };
        },
      },
      outbound: {
        deliveryMode: "direct",
        textChunkLimit: 4000,
        resolveTarget: ({ to }) => {
          const target = normalizeTarget(to);
          if (target) return { ok: true, to: target };
          return {
            ok: false,
            error: new Error(`invalid Zoom target "${to ?? ""}": use an email, zoom;-;<user> or channel:<id>`),
          };
        },
        sendText,
        sendMedia,
      },
      status: {
        defaultRuntime: {
          accountId: DEFAULT_ACCOUNT_ID,
          running: false,
          connected: false,
          lastStartAt: null,
          lastStopAt: null,
          lastError: null,
          lastInboundAt: null,
          lastOutboundAt: null,
        },
        probeAccount,
        buildAccountSnapshot,
      },
      gateway: {
        startAccount,
        stopAccount: async () => {
          // startAccount stops its sidecar when ctx.abortSignal fires.
        },
      },
    };

    api.registerChannel({ plugin });
    const paths = new Set([DEFAULT_INBOUND_PATH]);
    for (const id of listAccountIds(api.config)) paths.add(resolveAccount(api.config, id).inboundPath);
    for (const path of paths) {
      api.registerHttpRoute({
        path,
        auth: "plugin",
        match: "exact",
        handler: (req, res) => handleInbound(req, res, path),
      });
    }
  }

  return { id: PLUGIN_ID, name: PLUGIN_NAME, description: PLUGIN_DESCRIPTION, register };
}

export default createZoomPlugin();

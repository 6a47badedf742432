// Moltbot / Clawdbot / OpenClaw extension for the `zoom` channel.
//
// A thin shell around the moltbot-zoom sidecar (Rust): it registers the channel, sends
// outbound text through the sidecar's BlueBubbles-style REST API, supervises (or attaches
// to) the sidecar, and turns the sidecar's `new-message` webhooks into agent turns or
// system events. Rendering, delivery modes and meeting reply targets live in the sidecar.
//
// Plain ESM, no dependencies, no SDK imports. `register(api)` is synchronous and has no
// side effects: it also runs in every CLI process.

import { execFileSync, spawn as nodeSpawn } from "node:child_process";
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { zoomMessageActions } from "./actions.js";
import {
  DEFAULT_MEDIA_MAX_MB,
  attachmentsOf,
  authHeaders,
  canUpload,
  fetchInboundMedia,
  loadOutboundMedia,
  mediaFields,
  sidecarUrl,
  uploadAttachment,
} from "./media.js";
import { zoomSetup } from "./setup.js";
import { resolveSidecarBinary } from "./sidecar-binary.js";

const PLUGIN_ID = "zoom";
const PLUGIN_NAME = "Zoom";
const PLUGIN_DESCRIPTION = "Zoom meetings and Team Chat as a Moltbot chat channel (Rust sidecar).";
const DEFAULT_INBOUND_PATH = "/zoom-webhook";
const DEFAULT_ACCOUNT_ID = "default";
const DEFAULT_LISTEN = "127.0.0.1:18790";
const DEFAULT_GATEWAY_PORT = 18789;
const SEND_TIMEOUT_MS = 10_000;
const MAX_BODY_BYTES = 1024 * 1024;
/** Accepted guids remembered per state dir (the file is compacted at twice this). */
const ACCEPTED_CAPACITY = 20_000;
/** Context events kept for the next turn per state dir (oldest dropped beyond). */
const PENDING_CONTEXT_CAPACITY = 500;
/** Clawdbot evicts a session-store lock only when it is older than this. */
const STALE_LOCK_AGE_MS = 30_000;
/** OpenClaw's text for a turn it dropped (`RESTART_LIFECYCLE_REPLY_TEXT` in its agent runner). */
const HOST_RESTART_NOTICE = /^\s*⚠️ Gateway is restarting\. Please wait a few seconds and try again\.\s*$/u;
/** The sidecar's log file is rotated (one old copy) past this size when it is (re)started. */
const SIDECAR_LOG_ROTATE_BYTES = 10 * 1024 * 1024;
/**
 * Dispatches of one message that may resolve with no agent run, no reply and no deferral
 * before it is acknowledged anyway (a command that answers nothing). Earlier ones are
 * refused: OpenClaw resolves a dispatch that way while it is still starting, and the
 * message would otherwise be acknowledged with no turn at all.
 */
const NO_RUN_ATTEMPTS = 3;
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
  // How long a webhook waits for the host to accept its message: below the sidecar's
  // 10 s delivery timeout (crates/bluebubbles-shim/src/config.rs).
  holdMs: 8_000,
  // How often a detached sidecar's pid is checked and its log file tailed.
  watchIntervalMs: 500,
  // Retry-After (seconds) when the message is not accepted yet.
  retryAfterS: 2,
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

/** Keys renamed to the hosts' vocabulary, `[old, new]`: the old name is read with a warning. */
export const DEPRECATED_KEYS = [
  ["defaultTarget", "defaultTo"],
  ["inboundPath", "webhookPath"],
];

/** `layer` with deprecated names moved to their new ones (the new one wins); notes what it moved. */
function renameDeprecated(layer, path, deprecations) {
  const out = { ...layer };
  for (const [old, current] of DEPRECATED_KEYS) {
    if (!(old in out)) continue;
    deprecations.push(`${path}${old} is deprecated; rename it to ${path}${current}`);
    if (out[current] === undefined) out[current] = out[old];
    delete out[old];
  }
  return out;
}

export function resolveAccount(cfg, accountId, { env = process.env, hostSecrets } = {}) {
  const section = zoomSection(cfg) ?? {};
  const id = accountId || defaultAccountId(cfg);
  const { accounts, ...rawBase } = section;
  const rawOwn = accounts && typeof accounts === "object" ? accounts[id] : undefined;
  const own = rawOwn && typeof rawOwn === "object" ? rawOwn : undefined;
  const deprecations = [];
  const base = renameDeprecated(rawBase, "channels.zoom.", deprecations);
  const layered = own ? renameDeprecated(own, `channels.zoom.accounts.${id}.`, deprecations) : {};
  const raw = { ...base, ...layered };
  const missing = missingKeys(raw);
  const { config, secretErrors, pendingSecrets } = resolveSecrets(raw, id, env, hostSecrets);
  const sidecarUrl = present(config.sidecarUrl) ? String(config.sidecarUrl).trim() : undefined;
  return {
    accountId: id,
    name: present(config.name) ? String(config.name) : id,
    enabled: section.enabled !== false && config.enabled !== false,
    configured: missing.length === 0,
    missing,
    configPath: own ? `channels.zoom.accounts.${id}.` : "channels.zoom.",
    baseUrl: (sidecarUrl ?? loopbackBase(config.listen)).replace(/\/+$/, ""),
    inboundPath: normalizePath(config.webhookPath),
    deprecations,
    secretErrors,
    pendingSecrets,
    config,
  };
}

// ---------------------------------------------------------------------------------------
// Secrets: a plain string, an environment reference (`${VAR}` / `$VAR`), or a SecretRef
// `{source: "env" | "file" | "exec" | "store", provider?, id}` (OpenClaw's SecretInput,
// docs/gateway/secrets/secretref-contract.md). Environment references are resolved here;
// the other sources by the host's secrets support when it has one (see startAccount).

export const SECRET_KEYS = ["clientSecret", "webhookSecretToken", "password"];
const ENV_NAME = /^[A-Z][A-Z0-9_]{0,127}$/;
const ENV_REFERENCE = /^\$(?:\{([A-Z][A-Z0-9_]{0,127})\}|([A-Z][A-Z0-9_]{0,127}))$/;

/** Whether `value` is a SecretRef object. */
export function isSecretRef(value) {
  return (
    value !== null &&
    typeof value === "object" &&
    !Array.isArray(value) &&
    typeof value.source === "string" &&
    typeof value.id === "string"
  );
}

function fromEnv(name, env) {
  const value = env[name];
  return present(value) ? { value } : { error: `environment variable ${name} is not set` };
}

/** `{value}`, `{ref}` (for the host to resolve) or `{error}` (never containing the value). */
export function resolveSecretInput(value, env = process.env) {
  if (value === undefined || value === null) return { value: undefined };
  if (typeof value === "string") {
    const reference = ENV_REFERENCE.exec(value.trim());
    return reference ? fromEnv(reference[1] ?? reference[2], env) : { value };
  }
  if (isSecretRef(value)) {
    if (value.source !== "env") return { ref: value };
    return ENV_NAME.test(value.id) ? fromEnv(value.id, env) : { error: `invalid environment variable name in SecretRef` };
  }
  return { error: "must be a string or a SecretRef {source, provider, id}" };
}

/** The key of a host-resolved secret value, per account and config key. */
export function hostSecretKeyOf(accountId, key) {
  return `${accountId}\u0000${key}`;
}

function resolveSecrets(raw, accountId, env, hostSecrets) {
  const config = { ...raw };
  const secretErrors = [];
  const pendingSecrets = [];
  for (const key of SECRET_KEYS) {
    const result = resolveSecretInput(raw[key], env);
    if (result.ref) {
      const resolved = hostSecrets?.get(hostSecretKeyOf(accountId, key));
      if (present(resolved)) config[key] = resolved;
      else {
        config[key] = undefined;
        pendingSecrets.push(key);
      }
    } else if (result.error) {
      config[key] = undefined;
      secretErrors.push(`${key}: ${result.error}`);
    } else {
      config[key] = result.value;
    }
  }
  return { config, secretErrors, pendingSecrets };
}

/** Keys of `channels.zoom` (and its accounts) the channel schema does not know. */
export function unknownKeys(cfg, schema) {
  const properties = schema?.properties;
  if (!properties || typeof properties !== "object") return [];
  const known = new Set(Object.keys(properties));
  const accountKnown = new Set(Object.keys(properties.accounts?.additionalProperties?.properties ?? properties));
  const section = zoomSection(cfg) ?? {};
  const unknown = Object.keys(section).filter((k) => !known.has(k)).map((k) => `channels.zoom.${k}`);
  for (const id of accountEntries(section)) {
    for (const k of Object.keys(section.accounts[id])) {
      if (!accountKnown.has(k)) unknown.push(`channels.zoom.accounts.${id}.${k}`);
    }
  }
  return unknown;
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

function normalizedList(list) {
  return (Array.isArray(list) ? list : []).map(normalizeAllowEntry).filter(Boolean);
}

/** Whether `list` names the sender (or, for `chatGuid`, the conversation), or is `*`. */
function listAllows(list, sender, chatGuid) {
  if (list.includes("*")) return true;
  const who = normalizeAllowEntry(sender);
  return list.some((entry) => entry === who || (chatGuid && normalizeTarget(entry) === chatGuid));
}

// ---------------------------------------------------------------------------------------
// Policies (as the hosts' Mattermost / MS Teams channels do): `dmPolicy` for DMs,
// `groupPolicy` + `groupAllowFrom` + `groups.<channelId>` for channels, mention gating.
// Meeting and other system events (sender `zoom`) pass no policy.

export const DM_POLICIES = ["pairing", "allowlist", "open", "disabled"];
export const GROUP_POLICIES = ["allowlist", "open", "disabled"];

export function dmPolicyOf(config) {
  return DM_POLICIES.includes(config?.dmPolicy) ? config.dmPolicy : "pairing";
}

export function groupPolicyOf(config, cfg) {
  const policy = config?.groupPolicy ?? cfg?.channels?.defaults?.groupPolicy;
  return GROUP_POLICIES.includes(policy) ? policy : "allowlist";
}

function plainObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? value : undefined;
}

/** The Zoom channel id of a group chat GUID (`zoom;+;channel:<id>`), else the GUID. */
export function groupIdOf(chatGuid) {
  const match = /^zoom;\+;(?:channel:)?(.+)$/.exec(String(chatGuid ?? ""));
  return match ? match[1] : String(chatGuid ?? "");
}

/** `groups.<channelId>` (or its chat GUID), and `groups["*"]`. */
export function groupEntries(config, chatGuid) {
  const groups = plainObject(config?.groups) ?? {};
  return {
    own: plainObject(groups[groupIdOf(chatGuid)]) ?? plainObject(groups[chatGuid]),
    wildcard: plainObject(groups["*"]),
  };
}

/** Whether a channel message must mention the assistant (default true). */
export function requireMentionOf(config, chatGuid) {
  const { own, wildcard } = groupEntries(config, chatGuid);
  if (typeof own?.requireMention === "boolean") return own.requireMention;
  if (typeof wildcard?.requireMention === "boolean") return wildcard.requireMention;
  return true;
}

/**
 * What the policies say about a person's Team Chat message: `{allow: true,
 * commandAuthorized, requireMention}`, or `{allow: false, reason, pair}` (`pair`: answer
 * with a pairing code). `storeAllowFrom` is the host's pairing store for the channel.
 */
export function decideAccess({ config, cfg, msg, storeAllowFrom = [] }) {
  const store = normalizedList(storeAllowFrom);
  const allowFrom = normalizedList(config.allowFrom);
  if (msg.kind === "direct") {
    const policy = dmPolicyOf(config);
    if (policy === "disabled") return { allow: false, reason: "dmPolicy is disabled" };
    const listed = listAllows([...allowFrom, ...store], msg.sender, msg.chatGuid);
    if (policy === "open" || listed) return { allow: true, commandAuthorized: listed, requireMention: false };
    if (policy === "pairing") return { allow: false, pair: true, reason: "sender not paired yet" };
    return { allow: false, reason: "sender not in allowFrom" };
  }
  const policy = groupPolicyOf(config, cfg);
  if (policy === "disabled") return { allow: false, reason: "groupPolicy is disabled" };
  const { own, wildcard } = groupEntries(config, msg.chatGuid);
  const entry = own ?? wildcard;
  if (entry?.enabled === false) return { allow: false, reason: "channel disabled in groups" };
  const groupAllowFrom = normalizedList(config.groupAllowFrom);
  const perGroup = Array.isArray(entry?.allowFrom) ? normalizedList(entry.allowFrom) : undefined;
  const senders = perGroup ?? (groupAllowFrom.length > 0 ? groupAllowFrom : undefined);
  const senderListed = (list) => listAllows([...list, ...store], msg.sender, msg.chatGuid);
  const commandAuthorized = senderListed([...(senders ?? []), ...allowFrom]);
  const requireMention = requireMentionOf(config, msg.chatGuid);
  let allowed;
  if (senders) allowed = senderListed(senders);
  else if (policy === "open" || entry) allowed = true;
  else allowed = allowFrom.length + store.length > 0 && senderListed(allowFrom);
  if (!allowed) {
    return { allow: false, reason: senders ? "sender not allowed in this channel" : "channel not in groups and sender not in groupAllowFrom / allowFrom" };
  }
  return { allow: true, commandAuthorized, requireMention };
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
  const err = new Error(`Zoom sidecar ${path} failed (${status}): ${detail || "no details"}`);
  err.status = status;
  return err;
}

async function sidecarRequest(fetchImpl, account, method, path, body, timeoutMs = SEND_TIMEOUT_MS) {
  const password = account.config.password;
  if (!present(password)) throw new Error(`${account.configPath}password is required`);
  const url = sidecarUrl(account, path);
  const headers = { ...authHeaders(account), accept: "application/json" };
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

/** Every credential a webhook carries: `x-password`, `Authorization: Bearer`, `?password=`, `?guid=`. */
function tokensOf(req) {
  const tokens = [];
  const header = req.headers?.["x-password"];
  if (typeof header === "string") tokens.push(header);
  const auth = req.headers?.authorization;
  if (typeof auth === "string") {
    const match = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (match) tokens.push(match[1]);
  }
  try {
    const query = new URL(req.url ?? "/", "http://localhost").searchParams;
    for (const name of ["password", "guid"]) {
      const value = query.get(name);
      if (value !== null) tokens.push(value);
    }
  } catch {
    // no usable query
  }
  return tokens;
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
    // The sidecar's answer from Zoom's mention data; absent from older sidecars and events.
    wasMentioned: typeof zoom.wasMentioned === "boolean" ? zoom.wasMentioned : undefined,
    attachments: attachmentsOf(data),
  };
}

/**
 * The text a context message (no turn of its own) adds to its session. A person's Team Chat
 * message names who wrote it and where, the way the host's channels label the group history
 * entries they hand the agent (`sender: body`, e.g. Mattermost's and MS Teams' pending
 * history): `Zoom [#general] Carol Diaz (carol@example.com): lunch?`. Zoom's own events (the
 * meeting notices) read `Zoom: <text>`.
 */
export function contextText(msg) {
  if (msg.sender === EVENT_SENDER) return `Zoom: ${msg.text}`;
  const name = msg.senderName?.trim();
  const who = name && name.toLowerCase() !== msg.sender.toLowerCase() ? `${name} (${msg.sender})` : msg.sender;
  const where = msg.kind === "direct" ? "" : ` [${msg.label ?? msg.chatGuid}]`;
  return `Zoom${where} ${who}: ${msg.text}`;
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

// Colour and cursor sequences (CSI), which older sidecars wrote even into a file.
// eslint-disable-next-line no-control-regex
const ANSI_ESCAPE = /\x1b\[[0-?]*[ -/]*[@-~]/g;
const SIDECAR_LEVELS = { ERROR: "error", WARN: "warn", INFO: "info", DEBUG: "debug", TRACE: "debug" };

/**
 * One line of sidecar output: its gateway log level and its text without escape codes.
 * A `tracing` line is `<timestamp> <LEVEL> <message>`; only the first two words are
 * read, so a message that mentions "ERROR" keeps its own level. Lines without a level
 * (the CLI's `error: …`, a panic) are filed by their start, else at info.
 */
export function sidecarLogLine(raw) {
  const line = String(raw).replace(ANSI_ESCAPE, "").trimEnd();
  const text = line.trimStart();
  for (const word of text.split(/\s+/, 2)) {
    const level = SIDECAR_LEVELS[word];
    if (level) return { level, line };
  }
  if (/^error\b|^thread '.*' panicked at /i.test(text)) return { level: "error", line };
  if (/^warn(ing)?\b/i.test(text)) return { level: "warn", line };
  return { level: "info", line };
}

/** Files one sidecar output line in the gateway log at the line's own level. */
export function forwardSidecarLine(log, prefix, raw) {
  const { level, line } = sidecarLogLine(raw);
  if (!line.trim()) return;
  const method = typeof log?.[level] === "function" ? log[level] : log?.info;
  method?.call(log, `${prefix} sidecar: ${line}`);
}

// ---------------------------------------------------------------------------------------
// Durable files in <stateDir>/zoom/: every write is fsync'd (append) or written to a
// temporary file, fsync'd and renamed, so a crash leaves the old or the new content.

function fsyncDir(dir) {
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // not every platform can fsync a directory
  }
}

/** Replaces `file` with `text` atomically. */
export function writeFileDurably(file, text) {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  fsyncDir(dirname(file));
}

function appendDurably(file, text) {
  mkdirSync(dirname(file), { recursive: true });
  const fd = openSync(file, "a", 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function readText(file) {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * The guids whose messages the host accepted, one JSON line each, append-only with fsync.
 * Bounded: past twice `capacity` lines the newest `capacity` are rewritten atomically.
 * A torn last line (crash mid-append) is ignored.
 */
export class AcceptedLog {
  constructor(file, capacity = ACCEPTED_CAPACITY) {
    this.file = file;
    this.capacity = capacity;
    this.keys = undefined;
    this.lines = 0;
  }

  load() {
    if (this.keys) return;
    this.keys = new Set();
    const text = readText(this.file) ?? "";
    const lines = text.split("\n");
    const complete = text.endsWith("\n") ? lines.slice(0, -1) : lines.slice(0, -1);
    for (const line of complete) {
      try {
        const key = JSON.parse(line);
        if (typeof key === "string") this.keys.add(key);
      } catch {
        // a damaged line: skip it
      }
    }
    this.lines = this.keys.size;
    if (text && !text.endsWith("\n")) this.compact();
  }

  has(key) {
    this.load();
    return this.keys.has(key);
  }

  add(key) {
    this.load();
    if (this.keys.has(key)) return;
    appendDurably(this.file, `${JSON.stringify(key)}\n`);
    this.keys.add(key);
    this.lines += 1;
    if (this.lines > 2 * this.capacity) this.compact();
  }

  compact() {
    const keep = [...this.keys].slice(-this.capacity);
    this.keys = new Set(keep);
    this.lines = keep.length;
    writeFileDurably(this.file, keep.map((k) => `${JSON.stringify(k)}\n`).join(""));
  }
}

/**
 * Context events waiting for their session's next turn, for hosts without a durable
 * injection API (Clawdbot keeps system events in memory). One JSON file, replaced atomically.
 */
export class PendingContext {
  constructor(file, capacity = PENDING_CONTEXT_CAPACITY) {
    this.file = file;
    this.capacity = capacity;
  }

  all() {
    try {
      const list = JSON.parse(readText(this.file) ?? "[]");
      return Array.isArray(list) ? list.filter((e) => e && typeof e === "object") : [];
    } catch {
      return [];
    }
  }

  add(entry) {
    const list = this.all().filter((e) => e.key !== entry.key);
    list.push(entry);
    this.save(list.slice(-this.capacity));
  }

  /** Drops the entries of `sessionKey` queued at or before `before` (ms). */
  consume(sessionKey, before) {
    const list = this.all();
    const rest = list.filter((e) => e.sessionKey !== sessionKey || e.at > before);
    if (rest.length !== list.length) this.save(rest);
  }

  save(list) {
    writeFileDurably(this.file, `${JSON.stringify(list)}\n`);
  }
}

/** A file name part for an account id. */
function fileSafe(id) {
  return String(id).replace(/[^A-Za-z0-9_.-]/g, "_");
}

// ---------------------------------------------------------------------------------------
// Processes (the detached sidecar)

/** Whether `pid` runs (a zombie does not). */
export function pidAlive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return err?.code === "EPERM";
  }
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return true;
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
}

function signalGroup(pid, sig) {
  try {
    process.kill(-pid, sig);
    return;
  } catch {
    // not a group leader (or gone): signal the process itself
  }
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}

/** SIGTERM to the sidecar's process group, SIGKILL after `graceMs`; resolves once it is gone. */
async function stopPid(pid, graceMs) {
  if (!pidAlive(pid)) return;
  signalGroup(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (!pidAlive(pid)) return;
  signalGroup(pid, "SIGKILL");
  for (let i = 0; i < 40 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
}

/** The sidecar binary's version line, or a fingerprint of the file when it has none. */
function defaultSidecarVersion(command) {
  let stat;
  try {
    stat = statSync(command);
  } catch {
    return "missing";
  }
  let line = "";
  try {
    line = execFileSync(command, ["--version"], { timeout: 5_000, stdio: ["ignore", "pipe", "ignore"] })
      .toString("utf8")
      .trim();
  } catch {
    // no --version: the fingerprint alone
  }
  return `${line || basename(command)} (${stat.size} bytes, mtime ${Math.trunc(stat.mtimeMs)})`;
}

/** Stable JSON (sorted keys) for hashing a configuration. */
function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .filter((k) => value[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

export function configHash(command, accountJson) {
  return createHash("sha256").update(canonicalJson({ command, accountJson })).digest("hex");
}

/** An exclusive lock file holding our pid; a lock whose holder is dead is taken over. */
async function withFileLock(file, fn, timeoutMs = 15_000) {
  mkdirSync(dirname(file), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(file, "wx", 0o600);
      writeSync(fd, JSON.stringify({ pid: process.pid, at: Date.now() }));
      closeSync(fd);
      break;
    } catch (err) {
      if (err?.code !== "EEXIST") throw err;
      let holder;
      try {
        holder = JSON.parse(readFileSync(file, "utf8"));
      } catch {
        holder = undefined;
      }
      const stale = !holder || !pidAlive(holder.pid) || (holder.pid === process.pid && Date.now() - holder.at > timeoutMs);
      if (stale) {
        try {
          unlinkSync(file);
        } catch {
          // someone else removed it
        }
        continue;
      }
      if (Date.now() > deadline) throw new Error(`lock ${file} held by pid ${holder.pid}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await fn();
  } finally {
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
  }
}

/** Follows a log file from `offset`, passing complete lines to `write`. */
function tailFile(file, offset, write) {
  let position = offset;
  let partial = "";
  return function poll() {
    let size;
    try {
      size = statSync(file).size;
    } catch {
      return;
    }
    if (size < position) position = 0;
    if (size === position) return;
    const fd = openSync(file, "r");
    try {
      const buf = Buffer.alloc(Math.min(size - position, 1024 * 1024));
      const n = readSync(fd, buf, 0, buf.length, position);
      position += n;
      const lines = (partial + buf.subarray(0, n).toString("utf8")).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) if (line.trim()) write(line);
    } finally {
      closeSync(fd);
    }
  };
}

/** State shared by every registration in this process for one state dir (survives Clawdbot's in-process restart). */
function processState(stateDirPath) {
  const root = (globalThis[Symbol.for("moltbot-zoom.state")] ??= new Map());
  let state = root.get(stateDirPath);
  if (!state) {
    state = {
      inflight: new Map(), // accountId\0guid -> { accepted: Promise, sid }
      attempts: new Map(), // accountId\0guid -> attempts started in this process
      sessions: new Map(), // sessionKey -> tail of the serialized dispatch chain
      stopping: new Map(), // accountId -> AbortController fired when the account stops
      contextReplayed: new Set(), // accountIds whose pending context was re-queued
      accepted: undefined,
      pending: undefined,
    };
    root.set(stateDirPath, state);
  }
  return state;
}

/** Clawdbot's session-store lock left by a dead process and not yet evictable: ms left, else 0. */
export function staleStoreLockWait(storePath, now = Date.now()) {
  if (typeof storePath !== "string" || !storePath) return 0;
  const lock = `${storePath}.lock`;
  let stat;
  try {
    stat = statSync(lock);
  } catch {
    return 0;
  }
  let holder;
  try {
    holder = JSON.parse(readFileSync(lock, "utf8"));
  } catch {
    holder = undefined;
  }
  if (holder?.pid === process.pid || pidAlive(holder?.pid)) return 0;
  const age = now - stat.mtimeMs;
  return age < STALE_LOCK_AGE_MS ? STALE_LOCK_AGE_MS - age : 0;
}

// ---------------------------------------------------------------------------------------
// The plugin

/**
 * Builds the plugin definition. `options` exist for tests: `fetch`, `spawn`, `backoff`
 * `{initialMs, maxMs, resetAfterMs}`, `killGraceMs`, `healthIntervalMs`, `now`,
 * `sidecarBinary` (the lookup's `deps`, extension/sidecar-binary.js).
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
    const channelSchema = readJson(join(dir, "openclaw.plugin.json"))?.channelConfigs?.[PLUGIN_ID]?.schema;
    const runtime = api.runtime ?? {};
    const logger = api.logger ?? console;
    const statusSinks = new Map();
    const accountLogs = new Map();

    /** The running account's log (shown under the channel in the gateway log), else the plugin logger. */
    function logFor(accountId) {
      return accountLogs.get(accountId) ?? logger;
    }

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

    /** Secret values the host's secrets support resolved (SecretRefs of file / exec / store). */
    const hostSecrets = new Map();

    function accountOf(cfg, accountId) {
      return resolveAccount(cfg, accountId, { env: opts.env ?? process.env, hostSecrets });
    }

    /**
     * Resolves the account's non-env SecretRefs through the host (OpenClaw's
     * `resolveConfiguredSecretInputString`, from its plugin SDK), or fails naming the key.
     */
    async function resolveHostSecrets(cfg, account) {
      if (account.pendingSecrets.length === 0) return;
      const resolver = await hostSecretResolver();
      const problems = [];
      for (const key of account.pendingSecrets) {
        const path = `${account.configPath}${key}`;
        const raw = account.configPath === "channels.zoom." ? zoomSection(cfg)?.[key] : zoomSection(cfg)?.accounts?.[account.accountId]?.[key] ?? zoomSection(cfg)?.[key];
        if (!resolver) {
          problems.push(`${path}: a SecretRef with source "${raw?.source}" needs the host's secrets support, which this host does not offer to plugins (use source "env" or \${VAR})`);
          continue;
        }
        try {
          const result = await resolver({ config: cfg, env: opts.env ?? process.env, value: raw, path });
          if (present(result?.value)) hostSecrets.set(hostSecretKeyOf(account.accountId, key), String(result.value));
          else problems.push(`${path}: the host could not resolve its SecretRef (${result?.unresolvedRefReason ?? "no value"})`);
        } catch (err) {
          problems.push(`${path}: the host could not resolve its SecretRef (${err?.message ?? err})`);
        }
      }
      if (problems.length) throw new Error(problems.join("; "));
    }

    async function hostSecretResolver() {
      if (opts.secretResolver !== undefined) return opts.secretResolver;
      for (const specifier of ["openclaw/plugin-sdk/secret-input-runtime", "openclaw/plugin-sdk"]) {
        try {
          const sdk = await import(specifier);
          if (typeof sdk?.resolveConfiguredSecretInputString === "function") return sdk.resolveConfiguredSecretInputString;
        } catch {
          // Not this host (Clawdbot has no SecretRefs), or not loadable here.
        }
      }
      return undefined;
    }

    function patchStatus(accountId, patch) {
      statusSinks.get(accountId)?.(patch);
    }

    async function sendText({ cfg, to, text, accountId, replyToId, tempGuid }) {
      const account = accountOf(cfg ?? liveConfig(), accountId);
      const chatGuid = normalizeTarget(to);
      if (!chatGuid) throw new Error(`invalid Zoom target: ${to}`);
      const body = { chatGuid, message: String(text ?? ""), tempGuid: tempGuid ?? randomUUID() };
      if (present(replyToId)) body.selectedMessageGuid = String(replyToId);
      const res = await sidecarRequest(fetchImpl, account, "POST", "/api/v1/message/text", body);
      patchStatus(account.accountId, { lastOutboundAt: Date.now() });
      const messageId = res?.data?.guid ?? res?.guid ?? "ok";
      return { channel: PLUGIN_ID, messageId: String(messageId), chatId: chatGuid };
    }

    /** A file (buffer, path or URL the host can fetch) via message/attachment, else the URL as text. */
    async function sendMedia(ctx) {
      const account = accountOf(ctx.cfg ?? liveConfig(), ctx.accountId);
      const chatGuid = normalizeTarget(ctx.to);
      if (!chatGuid) throw new Error(`invalid Zoom target: ${ctx.to}`);
      const file = await loadOutboundMedia(ctx, runtime.channel?.media);
      if (!file) return sendText({ ...ctx, text: [ctx.text, ctx.mediaUrl].filter(present).join("\n") });
      const tempGuid = ctx.tempGuid ?? randomUUID();
      const res = await uploadAttachment(fetchImpl, account, { chatGuid, file, tempGuid, replyToId: ctx.replyToId });
      patchStatus(account.accountId, { lastOutboundAt: Date.now() });
      const caption = ctx.caption ?? ctx.text;
      if (present(caption)) await sendText({ ...ctx, text: caption, tempGuid: `${tempGuid}:caption` });
      return { channel: PLUGIN_ID, messageId: String(res?.data?.guid ?? "ok"), chatId: chatGuid };
    }

    /** The inbound message's files, fetched from the sidecar into the host's media store. */
    async function inboundMedia(account, msg) {
      if (!msg.attachments?.length) return [];
      const mb = Number(account.config.mediaMaxMb) > 0 ? Number(account.config.mediaMaxMb) : DEFAULT_MEDIA_MAX_MB;
      const media = runtime.channel?.media;
      return fetchInboundMedia({
        fetchImpl,
        account,
        attachments: msg.attachments,
        maxBytes: mb * 1024 * 1024,
        save: typeof media?.saveMediaBuffer === "function" ? (...args) => media.saveMediaBuffer(...args) : undefined,
        fallbackDir: join(stateDir(), "zoom-media"),
        log: (text) => logFor(account.accountId).warn?.(`${msg.guid}: ${text}`),
      });
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

    /**
     * The sidecar binary (extension/sidecar-binary.js). While there is none, its error is the
     * account's lastError and the lookup is retried with backoff; undefined once aborted.
     */
    async function findSidecar(account, log, prefix, signal, setStatus) {
      const configured = present(account.config.sidecarPath) ? String(account.config.sidecarPath) : undefined;
      let delay = opts.backoff.initialMs;
      while (!signal.aborted) {
        try {
          return resolveSidecarBinary({ configured, dir }, opts.sidecarBinary).path;
        } catch (err) {
          setStatus({ connected: false, lastError: err.message });
          log.error?.(`${prefix} ${err.message} (looking again in ${delay} ms)`);
          await sleep(delay, signal);
          delay = Math.min(delay * 2, opts.backoff.maxMs);
        }
      }
      return undefined;
    }

    function stateDir() {
      try {
        const resolved = runtime.state?.resolveStateDir?.();
        if (present(resolved)) return resolved;
      } catch {
        // fall through to the environment
      }
      const env = process.env;
      return (
        env.MOLTBOT_STATE_DIR ||
        env.CLAWDBOT_STATE_DIR ||
        env.OPENCLAW_STATE_DIR ||
        join(homedir(), ".moltbot-zoom")
      );
    }

    /** This process's shared state for our state dir, with its durable files opened. */
    function shared() {
      const dirPath = stateDir();
      const state = processState(dirPath);
      state.accepted ??= new AcceptedLog(join(dirPath, "zoom", "accepted.jsonl"));
      state.replied ??= new AcceptedLog(join(dirPath, "zoom", "replied.jsonl"));
      state.pending ??= new PendingContext(join(dirPath, "zoom", "pending-context.json"));
      state.pairingNotified ??= new Set();
      return state;
    }

    function sidecarFiles(accountId) {
      const base = join(stateDir(), "zoom", `sidecar-${fileSafe(accountId)}`);
      return { state: `${base}.json`, lock: `${base}.lock`, log: `${base}.log` };
    }

    async function startAccount(ctx) {
      const cfg = ctx.cfg ?? liveConfig();
      let account = ctx.account ?? accountOf(cfg, ctx.accountId);
      const id = account.accountId;
      // Host-resolved secrets are re-read on every start (a reload may have changed them).
      for (const key of SECRET_KEYS) hostSecrets.delete(hostSecretKeyOf(id, key));
      account = accountOf(cfg, id);
      const prefix = `[${id}]`;
      const log = ctx.log ?? logger;
      const signal = ctx.abortSignal ?? new AbortController().signal;
      let status = { ...(ctx.getStatus?.() ?? {}) };
      const setStatus = (patch) => {
        status = { ...status, ...patch, accountId: id };
        ctx.setStatus?.(status);
      };
      statusSinks.set(id, setStatus);
      accountLogs.set(id, log);
      for (const note of account.deprecations) log.warn?.(`${prefix} ${note}`);
      try {
        const typos = unknownKeys(cfg, channelSchema);
        if (typos.length) throw new Error(`unknown config key ${typos.join(", ")} (see docs/configuration.md)`);
        if (account.secretErrors.length) {
          throw new Error(account.secretErrors.map((problem) => `${account.configPath}${problem}`).join("; "));
        }
        // Only a SecretRef the host must resolve waits here; otherwise the start goes on
        // synchronously (pending context is re-queued before the first webhook can land).
        if (account.pendingSecrets.length) {
          await resolveHostSecrets(cfg, account);
          account = accountOf(cfg, id);
        }
      } catch (err) {
        setStatus({ running: false, lastError: err?.message ?? String(err) });
        log.error?.(`${prefix} not started: ${err?.message ?? err}`);
        throw err;
      }
      setStatus({
        running: true,
        connected: false,
        lastStartAt: Date.now(),
        lastError: null,
        baseUrl: account.baseUrl,
        webhookPath: account.inboundPath,
      });
      // Webhooks answer 503 from the moment the host stops this account (Clawdbot fires
      // the signal first when it closes; held requests would force its 5 s exit).
      const state = shared();
      const stopping = new AbortController();
      state.stopping.set(id, stopping);
      const onAbort = () => stopping.abort();
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
      replayPendingContext(state, id, log, prefix);
      try {
        if (present(account.config.sidecarUrl)) {
          log.info?.(`${prefix} zoom channel started (attached to ${account.baseUrl})`);
          await watchHealth(account, signal, setStatus, log, prefix);
        } else {
          await superviseSidecar(account, cfg, log, prefix, signal, setStatus);
        }
      } finally {
        signal.removeEventListener("abort", onAbort);
        if (statusSinks.get(id) === setStatus) statusSinks.delete(id);
        setStatus({ running: false, connected: false, lastStopAt: Date.now() });
      }
    }

    async function watchHealth(account, signal, setStatus, log, prefix) {
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
    }

    /** Whether the live config no longer wants this account's sidecar. */
    function channelWithdrawn(accountId) {
      const cfg = liveConfig();
      if (cfg?.plugins?.entries?.zoom?.enabled === false) return true;
      if (!zoomSection(cfg)) return true;
      const account = accountOf(cfg, accountId);
      return !account.enabled || !account.configured || present(account.config.sidecarUrl);
    }

    /** The sidecar's configuration as the extension hands it over. */
    function sidecarAccountJson(account, cfg) {
      const port = cfg?.gateway?.port ?? DEFAULT_GATEWAY_PORT;
      const { accounts: _ignored, ...config } = account.config;
      const accountJson = {
        ...config,
        accountId: account.accountId,
        webhookUrl: `http://127.0.0.1:${port}${account.inboundPath}`,
      };
      const dirForState = stateDir();
      if (dirForState) accountJson.stateDir = dirForState;
      return accountJson;
    }

    /**
     * Keeps a detached sidecar (own session, so a gateway stop or restart does not reach it)
     * running: attaches to the one recorded in the state file when its pid lives, its version
     * and configuration match and `/status` answers to our password; replaces it otherwise.
     * On abort it is left running, unless the live config withdrew the channel.
     */
    async function superviseSidecar(account, cfg, log, prefix, signal, setStatus) {
      const command = await findSidecar(account, log, prefix, signal, setStatus);
      if (command === undefined) return;
      const accountJson = sidecarAccountJson(account, cfg);
      const hash = configHash(command, accountJson);
      const files = sidecarFiles(account.accountId);
      // MOLTBOT_ZOOM_OWNER_DIR: the sidecar stops by itself once this package directory is
      // gone (`plugins uninstall zoom` runs no extension code).
      const env = {
        ...process.env,
        MOLTBOT_ZOOM_ACCOUNT_JSON: JSON.stringify(accountJson),
        MOLTBOT_ZOOM_OWNER_DIR: dir,
      };
      const write = (line) => forwardSidecarLine(log, prefix, line);
      const { initialMs, maxMs, resetAfterMs } = opts.backoff;
      let delay = initialMs;
      let announced = false;
      let pid;
      while (!signal.aborted) {
        const version = versionOf(command);
        let started;
        try {
          started = await withFileLock(files.lock, () =>
            attachOrSpawn({ account, command, version, hash, files, env, log, prefix }),
          );
        } catch (err) {
          started = { error: err };
        }
        if (started.error) {
          setStatus({ connected: false, lastError: `sidecar failed to start: ${started.error.message}` });
          log.warn?.(`${prefix} sidecar failed to start: ${started.error.message}; restarting in ${delay} ms`);
          await sleep(delay, signal);
          delay = Math.min(delay * 2, maxMs);
          continue;
        }
        pid = started.pid;
        if (!announced) {
          announced = true;
          log.info?.(`${prefix} zoom channel started (sidecar ${command}, pid ${pid})`);
        }
        const since = Date.now();
        const poll = tailFile(files.log, started.logOffset, write);
        let lastHealth = 0;
        while (!signal.aborted && pidAlive(pid)) {
          poll();
          if (Date.now() - lastHealth >= opts.healthIntervalMs) {
            lastHealth = Date.now();
            pingSidecar(account).then((ok) => setStatus(ok ? { connected: true, lastError: null } : { connected: false }));
          }
          await sleep(opts.watchIntervalMs, signal);
        }
        poll();
        if (signal.aborted) break;
        if (Date.now() - since >= resetAfterMs) delay = initialMs;
        setStatus({ connected: false, lastError: `sidecar exited (pid ${pid})` });
        log.warn?.(`${prefix} sidecar exited (pid ${pid}); restarting in ${delay} ms`);
        await sleep(delay, signal);
        delay = Math.min(delay * 2, maxMs);
      }
      if (pid && pidAlive(pid)) {
        if (channelWithdrawn(account.accountId)) {
          log.info?.(`${prefix} zoom channel withdrawn: stopping sidecar pid ${pid}`);
          await stopPid(pid, opts.killGraceMs);
          try {
            unlinkSync(files.state);
          } catch {
            // already gone
          }
        } else {
          log.info?.(`${prefix} sidecar pid ${pid} keeps running for the next gateway start`);
        }
      }
    }

    function versionOf(command) {
      return (opts.sidecarVersion ?? defaultSidecarVersion)(command);
    }

    async function pingSidecar(account) {
      try {
        await sidecarRequest(fetchImpl, account, "GET", "/status", undefined, 3_000);
        return true;
      } catch {
        return false;
      }
    }

    async function attachOrSpawn({ account, command, version, hash, files, env, log, prefix }) {
      const recorded = readJson(files.state);
      if (recorded && pidAlive(recorded.pid)) {
        const same = recorded.version === version && recorded.configHash === hash;
        if (same && (await pingSidecar(account))) {
          log.info?.(`${prefix} attached to the running sidecar pid ${recorded.pid}`);
          return { pid: recorded.pid, logOffset: fileSize(files.log) };
        }
        const why = !same
          ? recorded.version !== version
            ? "its version changed"
            : "its configuration changed"
          : "it does not answer /status";
        log.info?.(`${prefix} replacing the sidecar pid ${recorded.pid}: ${why}`);
        await stopPid(recorded.pid, opts.killGraceMs);
      }
      rotateLog(files.log);
      const logOffset = fileSize(files.log);
      mkdirSync(dirname(files.log), { recursive: true });
      const out = openSync(files.log, "a", 0o600);
      let child;
      try {
        child = spawnImpl(command, ["run"], { env, detached: true, stdio: ["ignore", out, out] });
      } finally {
        closeSync(out);
      }
      const pid = await new Promise((resolve, reject) => {
        if (child.pid) resolve(child.pid);
        child.once?.("error", reject);
        child.once?.("spawn", () => resolve(child.pid));
      });
      child.on?.("error", () => {});
      child.unref?.();
      writeFileDurably(
        files.state,
        `${JSON.stringify({ pid, version, configHash: hash, listen: account.baseUrl, startedAt: Date.now() })}\n`,
      );
      return { pid, logOffset };
    }

    function fileSize(file) {
      try {
        return statSync(file).size;
      } catch {
        return 0;
      }
    }

    function rotateLog(file) {
      if (fileSize(file) < SIDECAR_LOG_ROTATE_BYTES) return;
      try {
        renameSync(file, `${file}.1`);
      } catch {
        // keep appending
      }
    }

    /** Re-queues context events that a previous gateway process accepted but never used. */
    function replayPendingContext(state, accountId, log, prefix) {
      if (state.contextReplayed.has(accountId) || durableInjection()) return;
      state.contextReplayed.add(accountId);
      const entries = state.pending.all().filter((e) => e.accountId === accountId);
      for (const e of entries) {
        runtime.system?.enqueueSystemEvent?.(e.text, { sessionKey: e.sessionKey, agentId: e.agentId, contextKey: e.contextKey });
      }
      if (entries.length) log.info?.(`${prefix} re-queued ${entries.length} context event(s) for their sessions' next turn`);
    }

    /** OpenClaw's durable next-turn injection, when this host has it. */
    function durableInjection() {
      const workflow = api.session?.workflow;
      if (typeof workflow?.enqueueNextTurnInjection === "function") {
        return (input) => workflow.enqueueNextTurnInjection(input);
      }
      if (typeof api.enqueueNextTurnInjection === "function") return (input) => api.enqueueNextTurnInjection(input);
      return undefined;
    }

    function routeFor(cfg, account, msg) {
      const peer =
        msg.kind === "direct" ? { kind: "dm", id: msg.sender } : { kind: msg.kind, id: msg.chatGuid };
      return runtime.channel.routing.resolveAgentRoute({
        cfg,
        channel: PLUGIN_ID,
        accountId: account.accountId,
        peer,
      });
    }

    function storePathFor(cfg, route) {
      const session = runtime.channel?.session;
      if (typeof session?.resolveStorePath !== "function") return undefined;
      try {
        return session.resolveStorePath(cfg?.session?.store, { agentId: route.agentId });
      } catch {
        return undefined;
      }
    }

    /** Context mode: durable before 2xx (the host's injection queue, else our own file). */
    async function acceptContext(state, account, msg, route) {
      const text = contextText(msg);
      const contextKey = `zoom:event:${msg.guid}`;
      const inject = durableInjection();
      if (inject) {
        await inject({ sessionKey: route.sessionKey, agentId: route.agentId, text, idempotencyKey: contextKey });
      } else {
        state.pending.add({
          key: contextKey,
          accountId: account.accountId,
          sessionKey: route.sessionKey,
          agentId: route.agentId,
          text,
          contextKey,
          at: Date.now(),
        });
        runtime.system.enqueueSystemEvent(text, { sessionKey: route.sessionKey, agentId: route.agentId, contextKey });
      }
    }

    function buildContext(cfg, account, msg, route, messageSid, media = []) {
      let previousTimestamp;
      const storePath = storePathFor(cfg, route);
      if (storePath) {
        try {
          previousTimestamp = runtime.channel.session.readSessionUpdatedAt?.({ storePath, sessionKey: route.sessionKey });
        } catch {
          previousTimestamp = undefined;
        }
      }
      const replyApi = runtime.channel.reply;
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
        MessageSid: messageSid,
        ReplyToId: msg.replyToId,
        Timestamp: msg.timestamp,
        Provider: PLUGIN_ID,
        Surface: PLUGIN_ID,
        OriginatingChannel: PLUGIN_ID,
        WasMentioned: msg.wasMentioned === true,
        CommandAuthorized: fromTeamChat && msg.commandAuthorized === true,
      };
      if (!isDirect) payload.GroupSubject = label;
      Object.assign(payload, mediaFields(media));
      return typeof replyApi.finalizeInboundContext === "function"
        ? replyApi.finalizeInboundContext(payload)
        : payload;
    }

    /** Runs `task` after the previous task of `sessionKey` settled, so zoom never defers itself. */
    function serialized(state, sessionKey, task) {
      const previous = state.sessions.get(sessionKey) ?? Promise.resolve();
      const run = previous.then(task, task);
      const tail = run.catch(() => {});
      state.sessions.set(sessionKey, tail);
      tail.then(() => {
        if (state.sessions.get(sessionKey) === tail) state.sessions.delete(sessionKey);
      });
      return run;
    }

    /**
     * Starts the agent turn of a message-mode webhook. Its `accepted` promise resolves to
     * `{ok: true}` once the turn's final reply was sent or its dispatch completed and the
     * guid is in the accepted log, or to `{ok: false, reason}` when the dispatch failed.
     */
    function startTurn(state, key, cfg, account, msg, route) {
      const attempt = (state.attempts.get(key) ?? 0) + 1;
      state.attempts.set(key, attempt);
      // Clawdbot's in-memory dedupe remembers a MessageSid before processing: a retry in
      // the same process needs a fresh one.
      const sid = attempt === 1 ? msg.guid : `${msg.guid}#${attempt}`;
      let settle;
      const entry = { sid, accepted: new Promise((resolve) => (settle = resolve)), settled: false };
      const accept = (how) => {
        if (entry.settled) return;
        try {
          state.accepted.add(key);
        } catch (err) {
          logger.error?.(`zoom: [${account.accountId}] cannot record ${msg.guid} as accepted: ${err?.message ?? err}`);
          entry.settled = true;
          settle({ ok: false, reason: "dedup record failed" });
          return;
        }
        entry.settled = true;
        entry.how = how;
        state.attempts.delete(key);
        settle({ ok: true, how });
      };
      const refuse = (reason) => {
        if (entry.settled) return;
        entry.settled = true;
        logFor(account.accountId).warn?.(`${msg.guid} not accepted (503, will be redelivered): ${reason}`);
        settle({ ok: false, reason });
      };
      state.inflight.set(key, entry);
      serialized(state, route.sessionKey, async () => {
        if (entry.settled) return;
        let runStarted = false;
        let replyFailed;
        // The n-th reply of a turn to this guid has the same tempGuid in every run: the
        // sidecar answers a repeated tempGuid with the message it already posted, so a
        // re-run after a crash between its send and the replied record posts nothing twice.
        let replies = 0;
        const startedAt = Date.now();
        try {
          const ctx = buildContext(cfg, account, msg, route, sid, await inboundMedia(account, msg));
          // No `turnAdoptionLifecycle`: with it, OpenClaw 2026.9.6 dropped adopted turns of
          // this plugin under load (posting "Gateway is restarting"), see docs/reliability.md.
          const result = await runtime.channel.reply.dispatchReplyWithBufferedBlockDispatcher({
            ctx,
            cfg,
            dispatcherOptions: {
              deliver: async (out, info) => {
                const urls = (Array.isArray(out?.mediaUrls) ? out.mediaUrls : [out?.mediaUrl]).filter(present);
                // Files the host can load go up as files; other URLs stay links in the text.
                const files = urls.filter((u) => canUpload(u, runtime.channel?.media));
                const text = [out?.text, ...urls.filter((u) => !files.includes(u))].filter(present).join("\n");
                if (!text && !files.length) return;
                if (HOST_RESTART_NOTICE.test(text)) {
                  // OpenClaw's answer for a turn it dropped (it posts this while starting,
                  // draining or interrupting session work): not a reply. Leave the answer
                  // to the redelivery instead of acknowledging a message nobody answered.
                  replyFailed = new Error("the host dropped the turn (restart notice)");
                  return;
                }
                if (state.stopping.get(account.accountId)?.signal.aborted) {
                  // The gateway is going down: a reply sent now may reach Zoom after the
                  // process can no longer record the message as accepted, and the
                  // redelivery would post it twice. Leave the answer to the redelivery.
                  replyFailed = new Error("gateway stopping");
                  throw replyFailed;
                }
                replies += 1;
                try {
                  const tempGuid = `zoom-reply:${account.accountId}:${msg.guid}:${replies}`;
                  const base = { cfg, to: msg.chatGuid, accountId: account.accountId, replyToId: out?.replyToId };
                  if (text) await sendText({ ...base, text, tempGuid });
                  for (const [i, mediaUrl] of files.entries()) {
                    await sendMedia({ ...base, mediaUrl, tempGuid: `${tempGuid}:file:${i}` });
                  }
                } catch (err) {
                  replyFailed = err;
                  throw err;
                }
                // Part of the answer is in Zoom: record that before anything else can end
                // the process (a SIGTERM may land between this send and the turn's end), so a
                // redelivery of this guid is acknowledged instead of re-run and posted twice.
                markReplied(state, key, account, msg);
                // The final reply is out: a rerun would post it twice.
                if (info?.kind === "final") accept("final reply sent");
              },
              onError: (err, info) => {
                logger.error?.(
                  `zoom: [${account.accountId}] ${info?.kind ?? "reply"} failed: ${err?.message ?? err}`,
                );
              },
            },
            replyOptions: {
              onAgentRunStart: () => {
                runStarted = true;
              },
            },
          });
          if (!entry.settled && replyFailed) {
            // The sidecar did not take the reply (e.g. it was restarting): the redelivered
            // message runs the turn again rather than leaving it unanswered.
            refuse(`the reply could not be sent: ${replyFailed?.message ?? replyFailed}`);
          } else if (!entry.settled && !runStarted && replies === 0 && !result?.deferredToActiveRun && attempt < NO_RUN_ATTEMPTS) {
            refuse(`the host started no agent run (dispatch ${attempt} of ${NO_RUN_ATTEMPTS}; still starting?)`);
          } else if (!entry.settled) {
            if (result?.deferredToActiveRun || !runStarted) {
              // Queued behind the session's active run in the host's memory (or a command):
              // acknowledged, and lost if the gateway stops before that queue runs.
              logFor(account.accountId).warn?.(
                `${msg.guid} started no agent run yet (queued by the host in memory, or a command)`,
              );
            }
            accept(runStarted ? "completed" : "resolved without a run");
          }
          if (entry.how && !durableInjection()) state.pending.consume(route.sessionKey, startedAt);
        } catch (err) {
          logger.error?.(`zoom: [${account.accountId}] inbound ${msg.guid} failed: ${err?.message ?? err}`);
          refuse(`dispatch failed: ${err?.message ?? err}`);
        } finally {
          if (state.inflight.get(key) === entry) state.inflight.delete(key);
        }
      });
      return entry;
    }

    /** Durably notes that a reply to `key`'s message was posted (fsync'd before returning). */
    function markReplied(state, key, account, msg) {
      try {
        state.replied.add(key);
      } catch (err) {
        logger.error?.(`zoom: [${account.accountId}] cannot record the reply to ${msg.guid}: ${err?.message ?? err}`);
      }
    }

    /** `promise`'s value, or `fallback` after `ms` or when `signal` aborts. */
    function awaitBounded(promise, ms, signal, fallback) {
      return new Promise((resolve) => {
        const done = (value) => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          resolve(value);
        };
        const onAbort = () => done({ ok: false, reason: "gateway stopping", stopping: true });
        const timer = setTimeout(() => done(fallback), ms);
        if (signal?.aborted) return onAbort();
        signal?.addEventListener("abort", onAbort, { once: true });
        promise.then(done, (err) => done({ ok: false, reason: err?.message ?? String(err) }));
      });
    }

    /**
     * 503 + Retry-After. While the gateway stops, the connection is closed with the answer:
     * an idle keep-alive socket would hold Clawdbot's server close until its 5 s forced exit
     * (which also turns a SIGUSR1 restart into an exit).
     */
    function unavailable(res, seconds, why, { closing = false } = {}) {
      const headers = { "retry-after": String(Math.max(1, Math.ceil(seconds))) };
      if (closing) headers.connection = "close";
      reply(res, 503, `not accepted: ${why}`, headers);
      return true;
    }

    /** The host's pairing store for this channel (senders approved with `pairing approve`). */
    async function readPairingStore(account) {
      const pairing = runtime.channel?.pairing;
      if (typeof pairing?.readAllowFromStore !== "function") return [];
      try {
        // OpenClaw takes `{channel, accountId}` (its store is per account, and it also has
        // removeAllowFromStoreEntry); Clawdbot takes `(channel, env)`.
        const list =
          typeof pairing.removeAllowFromStoreEntry === "function"
            ? await pairing.readAllowFromStore({ channel: PLUGIN_ID, accountId: account.accountId })
            : await pairing.readAllowFromStore(PLUGIN_ID);
        return Array.isArray(list) ? list : [];
      } catch (err) {
        logFor(account.accountId).warn?.(`cannot read the pairing store: ${err?.message ?? err}`);
        return [];
      }
    }

    /**
     * dmPolicy "pairing", unknown sender: records a pairing request in the host's store and
     * sends its code back by Team Chat in the same DM (once per code and process; a failed
     * send is answered 503 so the sidecar redelivers and the code goes out then).
     */
    async function answerWithPairingCode(res, cfg, account, msg) {
      const pairing = runtime.channel?.pairing;
      const log = logFor(account.accountId);
      if (typeof pairing?.upsertPairingRequest !== "function") {
        log.warn?.(`${msg.guid} from ${msg.sender} not delivered: dmPolicy "pairing" needs the host's pairing store, which this host does not offer (list the sender in allowFrom)`);
        reply(res, 200, "ok");
        return true;
      }
      const id = normalizeAllowEntry(msg.sender);
      let request;
      try {
        request = await pairing.upsertPairingRequest({
          channel: PLUGIN_ID,
          id,
          accountId: account.accountId,
          meta: { name: msg.senderName },
        });
      } catch (err) {
        return unavailable(res, opts.retryAfterS, `pairing store: ${err?.message ?? err}`);
      }
      const code = request?.code;
      if (!present(code)) {
        // The host keeps a bounded number of pending requests; this one was not recorded.
        log.warn?.(`${msg.guid} from ${msg.sender} not delivered: the host recorded no pairing request (too many pending?)`);
        reply(res, 200, "ok");
        return true;
      }
      const state = shared();
      const notified = `${account.accountId}\u0000${id}\u0000${code}`;
      if (!request.created && state.pairingNotified.has(notified)) {
        reply(res, 200, "ok");
        return true;
      }
      const idLine = `Your Zoom user: ${msg.sender}`;
      const text =
        typeof pairing.buildPairingReply === "function"
          ? pairing.buildPairingReply({ channel: PLUGIN_ID, idLine, code })
          : `Access not configured.\n\n${idLine}\n\nPairing code: ${code}\n\nAsk the owner to approve with: pairing approve ${PLUGIN_ID} ${code}`;
      try {
        await sendText({
          cfg,
          to: msg.chatGuid,
          text,
          accountId: account.accountId,
          tempGuid: `zoom-pairing:${account.accountId}:${msg.guid}`,
        });
      } catch (err) {
        if (err?.status >= 400 && err?.status < 500 && err.status !== 429) {
          // Zoom refused it for good (e.g. an unknown user): a redelivery would fail the same
          // way. The request stays in the host's store (`pairing list zoom` shows it).
          log.error?.(`pairing code for ${msg.sender} not sent: ${err.message}`);
          reply(res, 200, "ok");
          return true;
        }
        return unavailable(res, opts.retryAfterS, `the pairing code could not be sent: ${err?.message ?? err}`);
      }
      state.pairingNotified.add(notified);
      log.info?.(`pairing request from ${msg.sender}: code sent by Team Chat (approve with \`pairing approve ${PLUGIN_ID} <code>\`)`);
      reply(res, 200, "ok");
      return true;
    }

    /**
     * `WasMentioned`: the sidecar's answer from Zoom's mention data (`zoom.wasMentioned`), or
     * the host's mention patterns for the agent (as Mattermost adds them). A DM, and a system
     * event (no mention data), is addressed to the assistant by its nature.
     */
    function wasMentioned(cfg, route, msg) {
      if (msg.wasMentioned === true || msg.kind === "direct") return true;
      if (msg.sender === EVENT_SENDER) return msg.wasMentioned === undefined;
      const mentions = runtime.channel?.mentions;
      if (typeof mentions?.buildMentionRegexes !== "function" || typeof mentions?.matchesMentionPatterns !== "function") {
        return false;
      }
      try {
        return mentions.matchesMentionPatterns(msg.text, mentions.buildMentionRegexes(cfg, route.agentId)) === true;
      } catch {
        return false;
      }
    }

    async function handleInbound(req, res, path) {
      if ((req.method ?? "GET").toUpperCase() !== "POST") {
        reply(res, 405, "method not allowed", { allow: "POST" });
        return true;
      }
      const cfg = liveConfig();
      const tokens = tokensOf(req);
      const account = listAccountIds(cfg)
        .map((id) => accountOf(cfg, id))
        .find((a) => a.enabled && a.inboundPath === path && tokens.some((t) => secretEquals(a.config.password, t)));
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
      if (msg.fromMe || msg.mode === "drop") {
        reply(res, 200, "ok");
        return true;
      }
      if (msg.sender !== EVENT_SENDER) {
        // A person's Team Chat message: the DM / channel policies decide (meeting events
        // from the system sender pass; their filters and delivery modes govern them).
        const storeAllowFrom = await readPairingStore(account);
        const access = decideAccess({ config: account.config, cfg, msg, storeAllowFrom });
        if (!access.allow) {
          if (access.pair) return answerWithPairingCode(res, cfg, account, msg);
          logFor(account.accountId).debug?.(`${msg.guid} from ${msg.sender} not delivered: ${access.reason}`);
          reply(res, 200, "ok");
          return true;
        }
        msg.commandAuthorized = access.commandAuthorized;
        msg.requireMention = access.requireMention;
      }
      const state = shared();
      const key = `${account.accountId}\u0000${msg.guid}`;
      try {
        if (state.accepted.has(key)) {
          reply(res, 200, "duplicate");
          return true;
        }
      } catch (err) {
        return unavailable(res, opts.retryAfterS, `dedup log unreadable: ${err?.message ?? err}`);
      }
      const stopping = state.stopping.get(account.accountId)?.signal;
      let entry = state.inflight.get(key);
      if (!entry) {
        try {
          if (state.replied.has(key)) {
            // An earlier run (in a process that then stopped) already posted a reply to this
            // message: acknowledge it rather than answer it twice.
            logFor(account.accountId).warn?.(`${msg.guid} was already answered before a restart; not run again`);
            state.accepted.add(key);
            reply(res, 200, "already replied", stopping?.aborted ? { connection: "close" } : {});
            return true;
          }
        } catch (err) {
          return unavailable(res, opts.retryAfterS, `dedup log unreadable: ${err?.message ?? err}`);
        }
        if (stopping?.aborted) return unavailable(res, 5, "gateway stopping", { closing: true });
        patchStatus(account.accountId, { lastInboundAt: Date.now() });
        let route;
        try {
          route = routeFor(cfg, account, msg);
        } catch (err) {
          return unavailable(res, opts.retryAfterS, `routing failed: ${err?.message ?? err}`);
        }
        msg.wasMentioned = wasMentioned(cfg, route, msg);
        if (msg.mode === "message" && msg.requireMention && !msg.wasMentioned) {
          // Unmentioned channel chatter is context for the next turn, not a turn.
          msg.mode = "context";
        }
        if (msg.mode === "context") {
          try {
            await acceptContext(state, account, msg, route);
            state.accepted.add(key);
          } catch (err) {
            logger.error?.(`zoom: [${account.accountId}] context ${msg.guid} not queued: ${err?.message ?? err}`);
            return unavailable(res, opts.retryAfterS, "context not queued");
          }
          reply(res, 200, "ok");
          return true;
        }
        const lockWait = staleStoreLockWait(storePathFor(cfg, route));
        if (lockWait > 0) return unavailable(res, lockWait / 1000, "session store locked by a stopped gateway");
        entry = startTurn(state, key, cfg, account, msg, route);
      }
      const outcome = await awaitBounded(entry.accepted, opts.holdMs, stopping, {
        ok: false,
        reason: "agent turn still running",
      });
      const closing = stopping?.aborted === true;
      if (outcome.ok) {
        reply(res, 200, "ok", closing ? { connection: "close" } : {});
        return true;
      }
      return unavailable(res, closing ? 5 : opts.retryAfterS, outcome.reason, { closing });
    }

    const plugin = {
      id: PLUGIN_ID,
      meta,
      capabilities: {
        chatTypes: ["direct", "group", "channel"],
        threads: true,
        reply: true,
        media: true,
        reactions: true,
        edit: true,
      },
      // react / edit / unsend, through the sidecar to Zoom (extension/actions.js).
      actions: zoomMessageActions({
        request: (account, method, path, body) => sidecarRequest(fetchImpl, account, method, path, body),
        accountOf: (cfg, accountId) => accountOf(cfg ?? liveConfig(), accountId),
        normalizeTarget,
      }),
      reload: { configPrefixes: ["channels.zoom"] },
      // `setup` (channels add with flags), `onboarding` / `setupWizard` (the wizard): extension/setup.js.
      ...zoomSetup({ dir, resolveAccount }),
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
          (accountOf(cfg, accountId).config.allowFrom ?? []).map(String),
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
          const resolved = account ?? accountOf(cfg, accountId);
          const base = resolved.configPath;
          return {
            policy: dmPolicyOf(resolved.config),
            allowFrom: (resolved.config.allowFrom ?? []).map(String),
            policyPath: `${base}dmPolicy`,
            allowFromPath: base,
            approveHint: `Approve with \`pairing approve ${PLUGIN_ID} <code>\`, or add the sender's email or user id to ${base}allowFrom`,
            normalizeEntry: normalizeAllowEntry,
          };
        },
        collectWarnings: ({ cfg, accountId, account }) => {
          const resolved = account ?? accountOf(cfg, accountId);
          const warnings = resolved.deprecations.map((note) => `- Zoom: ${note}.`);
          if (groupPolicyOf(resolved.config, cfg) === "open") {
            warnings.push(
              `- Zoom channels: groupPolicy="open" lets any member of any channel start a turn (mention-gated). Set ${resolved.configPath}groupPolicy="allowlist" with groups / groupAllowFrom to restrict it.`,
            );
          }
          return warnings;
        },
      },
      pairing: {
        idLabel: "zoomUser",
        normalizeAllowEntry,
        notifyApproval: async ({ cfg, id, accountId }) => {
          await sendText({
            cfg: cfg ?? liveConfig(),
            to: String(id),
            text: "Your Zoom access was approved: you can talk to the assistant now.",
            accountId,
          });
        },
      },
      groups: {
        resolveRequireMention: ({ cfg, accountId, groupId }) =>
          requireMentionOf(accountOf(cfg, accountId).config, String(groupId ?? "")),
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
    for (const id of listAccountIds(api.config)) paths.add(accountOf(api.config, id).inboundPath);
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

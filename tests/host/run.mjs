// Real-host end-to-end test: the moltbot-zoom extension and sidecar inside real gateways
// (Clawdbot 2026.1.24-3 and OpenClaw 2026.9.6), against fake Zoom and a fake LLM, on loopback.
//
//   node tests/host/run.mjs [--host clawdbot|openclaw|all] [--keep] [--manual-extension DIR]
//
// Run it with Node 24 (tests/host/run.sh does). Environment:
//   MOLTBOT_ZOOM_HOST_CACHE  where install.sh put Node 24 and the gateways
//   MOLTBOT_ZOOM_BIN         the moltbot-zoom binary (default target/release/moltbot-zoom)
//   FAKE_ZOOM_BIN            the fake-zoom binary (default target/release/fake-zoom)
//   MOLTBOT_ZOOM_NPM_DIR     the packed npm packages (node scripts/pack.mjs; .ci/run packs the
//                            release sidecar); unset: packed here from MOLTBOT_ZOOM_BIN
//   HOST_EXTENSION_INSTALL   how the extension scenario installs: npm (default; the host's
//                            `plugins install` from a loopback registry) or source
//                            (`moltbot-zoom install`, as the other scenarios do)
// `--manual-extension DIR` copies DIR as the extension instead of `moltbot-zoom install`
// (for debugging when `install` is unavailable); the binary is linked into its bin/.
// The last stdout line is "N passed, N failed"; the exit code is non-zero on any failure.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import nodeHttp from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { contentScenario } from "./content.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "../..");
const CACHE = process.env.MOLTBOT_ZOOM_HOST_CACHE || path.join(os.homedir(), ".cache/moltbot-zoom-host");
const MOLTBOT_ZOOM_BIN = process.env.MOLTBOT_ZOOM_BIN || path.join(REPO, "target/release/moltbot-zoom");
const FAKE_ZOOM_BIN = process.env.FAKE_ZOOM_BIN || path.join(REPO, "target/release/fake-zoom");
const NPM_DIR = process.env.MOLTBOT_ZOOM_NPM_DIR ? path.resolve(process.env.MOLTBOT_ZOOM_NPM_DIR) : undefined;
const VERDACCIO = path.join(CACHE, "verdaccio/node_modules/verdaccio/bin/verdaccio");
const EXTENSION_INSTALL = process.env.HOST_EXTENSION_INSTALL || "npm";
/** What a user types: the extension's npm name (scoped; the unscoped part is the plugin id). */
const PACKAGE = "@moltbot-zoom/zoom";
const PLATFORM_PACKAGE = `@moltbot-zoom/sidecar-${process.platform}-${process.arch}`;

const GATEWAY_HTTP_TIMEOUT = 180_000;
const CHANNEL_LINE_TIMEOUT = 60_000;
const CHECK_TIMEOUT = 30_000;
const QUIET_WINDOW = 3_000; // how long "nothing happens" is watched
const CLI_TIMEOUT = 90_000;
const FAKE_START_TIMEOUT = 10_000;
const STOP_TIMEOUT = 10_000;
const GATEWAY_TOKEN = "test-gateway-token";
const ZOOM_PASSWORD = "zoom-e2e-pass";
const BB_PASSWORD = "bbpass";
const ME = "me@example.com";

/**
 * The zoom account settings every scenario shares: fake Zoom `fz`'s credentials and
 * endpoints, `ME` as the sender, the sidecar on `port`; `extra` adds or overrides fields.
 */
function zoomAccount(fz, port, extra = {}) {
  return {
    clientId: fz.clientId,
    clientSecret: fz.clientSecret,
    zoomAccountId: fz.accountId,
    subscriptionId: fz.subscriptionId,
    oauthUrl: fz.baseUrl,
    apiUrl: fz.baseUrl,
    wsUrl: fz.wsUrl,
    sender: ME,
    listen: `127.0.0.1:${port}`,
    ...extra,
  };
}

const HOSTS = {
  clawdbot: {
    version: "2026.1.24-3",
    entry: path.join(CACHE, "clawdbot/node_modules/clawdbot/dist/entry.js"),
    configFile: "clawdbot.json",
    env: (lab) => ({
      CLAWDBOT_STATE_DIR: lab.state,
      CLAWDBOT_CONFIG_PATH: path.join(lab.state, "clawdbot.json"),
      CLAWDBOT_GATEWAY_TOKEN: GATEWAY_TOKEN,
      CLAWDBOT_NO_RESPAWN: "1",
      CLAWDBOT_DISABLE_BONJOUR: "1",
      CLAWDBOT_SKIP_BROWSER_CONTROL_SERVER: "1",
      CLAWDBOT_SKIP_CANVAS_HOST: "1",
      CLAWDBOT_SKIP_GMAIL_WATCHER: "1",
      CLAWDBOT_HIDE_BANNER: "1",
    }),
    extraConfig: () => ({ canvasHost: { enabled: false }, discovery: { wideArea: { enabled: false } } }),
  },
  openclaw: {
    version: "2026.9.6",
    entry: path.join(CACHE, "openclaw/node_modules/openclaw/openclaw.mjs"),
    configFile: "openclaw.json",
    env: (lab) => ({
      OPENCLAW_HOME: lab.home,
      OPENCLAW_STATE_DIR: lab.state,
      OPENCLAW_CONFIG_PATH: path.join(lab.state, "openclaw.json"),
      OPENCLAW_GATEWAY_TOKEN: GATEWAY_TOKEN,
      OPENCLAW_NO_RESPAWN: "1",
      OPENCLAW_NO_AUTO_UPDATE: "1",
      OPENCLAW_DISABLE_BONJOUR: "1",
      OPENCLAW_SKIP_BROWSER_CONTROL_SERVER: "1",
      OPENCLAW_SKIP_CANVAS_HOST: "1",
      OPENCLAW_SKIP_GMAIL_WATCHER: "1",
      OPENCLAW_HIDE_BANNER: "1",
    }),
    extraConfig: () => ({ models: { catalogRefresh: { enabled: false } } }),
  },
};

// ---------------------------------------------------------------------------------------------
// Small utilities

const T0 = Date.now();
const stamp = () => `[${((Date.now() - T0) / 1000).toFixed(1).padStart(6)}s]`;
const log = (...a) => console.log(stamp(), ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const secs = (ms) => `${(ms / 1000).toFixed(2)} s`;

/** `promise`'s value, or null after `ms`; the timer is cleared so it cannot hold the process open. */
async function within(promise, ms) {
  let timer;
  try {
    return await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(() => resolve(null), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function parseArgs(argv) {
  const opts = { host: "all", keep: false, manualExtension: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--keep") opts.keep = true;
    else if (a === "--host") opts.host = argv[++i];
    else if (a.startsWith("--host=")) opts.host = a.slice(7);
    else if (a === "--manual-extension") opts.manualExtension = path.resolve(argv[++i]);
    else if (a === "-h" || a === "--help") {
      console.log("usage: run.mjs [--host clawdbot|openclaw|all] [--keep] [--manual-extension DIR]");
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!["clawdbot", "openclaw", "all"].includes(opts.host)) throw new Error(`--host must be clawdbot, openclaw or all`);
  return opts;
}

/** Polls `fn` until it returns a truthy value; throws after `timeout` ms. */
async function waitFor(what, fn, { timeout = CHECK_TIMEOUT, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let lastError;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      if (e.fatal) throw e;
      lastError = e;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${secs(timeout)} waiting for ${what}${lastError ? ` (last error: ${lastError.message})` : ""}`);
    }
    await sleep(interval);
  }
}

async function http(method, url, body, timeout = 10_000) {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeout),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Parses JSON from a CLI's stdout that may carry leading/trailing non-JSON lines (pass
 * stdout only: the hosts log to stderr, e.g. "[sqlite/transaction] slow ..." lines).
 */
function parseCliJson(text) {
  const starts = [text.indexOf("{"), text.indexOf("[")].filter((i) => i >= 0);
  if (starts.length === 0) throw new Error("no JSON in output");
  const start = Math.min(...starts);
  const close = text[start] === "{" ? "}" : "]";
  for (let end = text.lastIndexOf(close); end > start; end = text.lastIndexOf(close, end - 1)) {
    try {
      return JSON.parse(text.slice(start, end + 1));
    } catch {
      /* try a shorter slice */
    }
  }
  throw new Error("unparsable JSON in output");
}

/** The JSON a CLI printed: from its stdout, else from all of its output. */
function cliJson(r) {
  try {
    return parseCliJson(r.stdout);
  } catch {
    return parseCliJson(r.output);
  }
}

/** The gateway's JSON log file (`logging.file`) as `{level, text}` entries. */
function hostLogEntries(lab) {
  let raw = "";
  try {
    raw = fs.readFileSync(path.join(lab.logs, "host.log"), "utf8");
  } catch {
    return [];
  }
  const entries = [];
  for (const line of raw.split("\n")) {
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      continue;
    }
    const text = Object.keys(e)
      .filter((k) => /^\d+$/.test(k))
      .map((k) => (typeof e[k] === "string" ? e[k] : JSON.stringify(e[k])))
      .join(" ");
    entries.push({ level: e._meta?.logLevelName, text, raw: line });
  }
  return entries;
}

/** Every object nested in `v` (depth-first) for which `pred` holds. */
function findObjects(v, pred, out = []) {
  if (Array.isArray(v)) for (const x of v) findObjects(x, pred, out);
  else if (v && typeof v === "object") {
    if (pred(v)) out.push(v);
    for (const x of Object.values(v)) findObjects(x, pred, out);
  }
  return out;
}

const tail = (text, n = 40) => text.split("\n").slice(-n).join("\n");

// ---------------------------------------------------------------------------------------------
// Processes: each child in its own process group, output to $LAB/logs/<name>.out

const running = [];

function descendants(pid) {
  const children = new Map();
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(d));
    } catch {
      /* gone */
    }
  }
  const out = [];
  const stack = [...(children.get(pid) ?? [])];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

function rssKb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function comm(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** The detached sidecar the extension recorded in the lab's state dir (pid, version, config hash). */
function sidecarState(lab) {
  try {
    return JSON.parse(fs.readFileSync(path.join(lab.state, "zoom", "sidecar-default.json"), "utf8"));
  } catch {
    return undefined;
  }
}

/** Stops the lab's detached sidecar (it outlives the gateway by design). */
async function stopSidecar(lab) {
  const pid = sidecarState(lab)?.pid;
  if (!pid || !alive(pid)) return;
  for (const sig of ["SIGTERM", "SIGKILL"]) {
    try {
      process.kill(-pid, sig);
    } catch {
      /* gone */
    }
    if (await waitFor(`sidecar ${pid} to exit`, () => !alive(pid), { timeout: STOP_TIMEOUT }).then(() => true, () => false)) return;
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

function startProcess(lab, name, cmd, args, { env = baseEnv(), cwd = lab.dir } = {}) {
  const logFile = path.join(lab.logs, `${name}.out`);
  const out = fs.createWriteStream(logFile);
  const child = spawn(cmd, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const proc = { name, child, pid: child.pid, logFile, output: "", stdout: "", exit: null, lab };
  proc.exited = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      proc.exit = { code, signal };
      resolve(proc.exit);
    });
    child.on("error", (err) => {
      proc.exit = { code: null, signal: null, error: err.message };
      resolve(proc.exit);
    });
  });
  for (const s of [child.stdout, child.stderr]) {
    s.on("data", (d) => {
      const text = d.toString("utf8");
      proc.output += text;
      if (s === child.stdout) proc.stdout += text;
      out.write(d);
    });
  }
  proc.closeLog = () => new Promise((r) => out.end(r));
  running.push(proc);
  return proc;
}

/** Stops `proc` (its process group); descendants that outlive it are killed unless in `spare`. */
async function stopProcess(proc, { spare = [], signal = "SIGTERM", timeout = STOP_TIMEOUT } = {}) {
  const idx = running.indexOf(proc);
  if (idx >= 0) running.splice(idx, 1);
  const family = proc.exit ? [] : descendants(proc.pid).filter((p) => !spare.includes(p));
  if (!proc.exit) {
    try {
      process.kill(-proc.pid, signal);
    } catch {
      /* already gone */
    }
    const res = await within(proc.exited, timeout);
    if (!res) {
      log(`${proc.name}: no exit ${secs(timeout)} after ${signal}, sending SIGKILL`);
      try {
        process.kill(-proc.pid, "SIGKILL");
      } catch {
        /* gone */
      }
      await within(proc.exited, 2000);
    }
  }
  // Descendants that left the group (own session) and outlived their parent.
  const leftovers = [];
  for (const p of family) {
    if (!alive(p)) continue;
    await waitFor(`pid ${p} to exit`, () => !alive(p), { timeout: 3000 }).catch(() => {});
    if (alive(p)) {
      leftovers.push(`${p} (${comm(p)})`);
      try {
        process.kill(p, "SIGKILL");
      } catch {
        /* gone */
      }
    }
  }
  await proc.closeLog();
  return leftovers;
}

async function stopAll() {
  for (const p of [...running].reverse()) await stopProcess(p);
}

async function waitForOutput(proc, re, what, timeout) {
  return waitFor(
    what,
    () => {
      if (proc.exit) throw Object.assign(new Error(`${proc.name} exited (${JSON.stringify(proc.exit)})`), { fatal: true });
      return re.exec(proc.output);
    },
    { timeout },
  ).catch((e) => {
    throw new Error(`${e.message}\n--- ${proc.name} output tail ---\n${tail(proc.output)}`);
  });
}

// ---------------------------------------------------------------------------------------------
// Lab, fakes, gateway

const labs = [];

function makeLab(root, name) {
  const dir = path.join(root, name);
  const lab = { dir, state: path.join(dir, "state"), home: path.join(dir, "home"), workspace: path.join(dir, "workspace"), logs: path.join(dir, "logs") };
  for (const d of Object.values(lab)) fs.mkdirSync(d, { recursive: true });
  labs.push(lab);
  return lab;
}

async function startFakeLlm(lab) {
  const proc = startProcess(lab, "fake-llm", process.execPath, [path.join(HERE, "fake-llm.mjs"), "--port", "0"]);
  const m = await waitForOutput(proc, /^(http:\/\/127\.0\.0\.1:(\d+)\/v1)$/m, "fake LLM URL", FAKE_START_TIMEOUT);
  const base = `http://127.0.0.1:${m[2]}`;
  return {
    proc,
    url: m[1],
    requests: async (since = 0) => (await http("GET", `${base}/__requests?since=${since}`)).json,
    next: async () => {
      const all = (await http("GET", `${base}/__requests`)).json;
      return all.length ? all[all.length - 1].seq + 1 : 0;
    },
  };
}

async function startFakeZoom(lab, name) {
  // mallory is a Zoom user the gateway does not know (pairing); chan-ops a channel for mention gating.
  const users = "me@example.com,alice@example.com,bob@example.com,mallory@example.com";
  const proc = startProcess(lab, name, FAKE_ZOOM_BIN, ["--listen", "127.0.0.1:0", "--users", users, "--channels", "chan-1,chan-ops"]);
  const line = await waitForOutput(proc, /^fake-zoom listening on .*$/m, "fake-zoom start line", FAKE_START_TIMEOUT);
  const field = (k) => new RegExp(`${k}=(\\S+)`).exec(line[0])?.[1];
  const baseUrl = /listening on (http:\/\/\S+)/.exec(line[0])?.[1];
  if (!baseUrl) throw new Error(`cannot parse fake-zoom line: ${line[0]}`);
  const fz = {
    proc,
    baseUrl,
    wsUrl: field("ws"),
    clientId: field("client_id"),
    clientSecret: field("client_secret"),
    accountId: field("account_id"),
    subscriptionId: field("subscription_id"),
  };
  fz.push = async (event) => {
    const at = Date.now();
    const r = await http("POST", `${baseUrl}/_fake/events`, event);
    if (r.status !== 200) throw new Error(`POST /_fake/events -> ${r.status} ${r.text}`);
    if (!(r.json?.delivered >= 1)) throw new Error(`event not delivered to any WS connection: ${r.text}`);
    return at;
  };
  fz.knobs = async (patch) => {
    const r = await http("POST", `${baseUrl}/_fake/knobs`, patch);
    if (r.status !== 200) throw new Error(`POST /_fake/knobs -> ${r.status} ${r.text}`);
  };
  fz.expireTokens = async () => http("POST", `${baseUrl}/_fake/expire-token`, {});
  fz.drop = async () => http("POST", `${baseUrl}/_fake/drop`, {});
  fz.teamChat = async () => (await http("GET", `${baseUrl}/_fake/team-chat`)).json ?? [];
  fz.stats = async () => (await http("GET", `${baseUrl}/_fake/stats`)).json;
  return fz;
}

/** The harness environment minus its own MOLTBOT_* knobs (the gateways warn about those). */
function baseEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("MOLTBOT_")));
}

function hostEnv(host, lab) {
  const nodeBin = path.dirname(process.execPath);
  return {
    ...baseEnv(),
    PATH: `${nodeBin}:${process.env.PATH}`,
    HOME: lab.home,
    NO_COLOR: "1",
    // A shared TMPDIR keeps the jiti transpile cache warm across runs.
    TMPDIR: path.join(CACHE, "tmp"),
    ...HOSTS[host].env(lab),
  };
}

function writeConfig(host, lab, { gatewayPort, llmUrl, channels, plugins, extra: more = {} }) {
  const base = {
    gateway: { mode: "local", port: gatewayPort, bind: "loopback", auth: { mode: "token", token: GATEWAY_TOKEN } },
    update: { checkOnStart: false },
    logging: { file: path.join(lab.logs, "host.log") },
    browser: { enabled: false },
    agents: {
      defaults: {
        workspace: lab.workspace,
        skipBootstrap: true,
        model: { primary: "fake/echo-1" },
        models: { "fake/echo-1": {} },
      },
    },
    models: {
      mode: "replace",
      providers: {
        fake: {
          baseUrl: llmUrl,
          apiKey: "sk-fake",
          api: "openai-completions",
          models: [
            {
              id: "echo-1",
              name: "Echo 1",
              reasoning: false,
              input: ["text"],
              cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
              contextWindow: 128000,
              maxTokens: 4096,
            },
          ],
        },
      },
    },
    channels,
    plugins,
  };
  const extra = HOSTS[host].extraConfig();
  const config = { ...base, ...extra, ...more, models: { ...base.models, ...(extra.models ?? {}) } };
  const file = path.join(lab.state, HOSTS[host].configFile);
  fs.writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  return config;
}

async function startGateway(host, lab, port, readyLines, name = "gateway", extraEnv = {}) {
  const env = { ...hostEnv(host, lab), ...extraEnv };
  const started = Date.now();
  const proc = startProcess(lab, name, process.execPath, [HOSTS[host].entry, "gateway", "run", "--port", String(port)], { env });
  await waitFor(
    "gateway HTTP answer",
    async () => {
      if (proc.exit) throw Object.assign(new Error(`gateway exited ${JSON.stringify(proc.exit)}`), { fatal: true });
      try {
        await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) });
        return true;
      } catch (e) {
        if (e.fatal) throw e;
        return false;
      }
    },
    { timeout: GATEWAY_HTTP_TIMEOUT, interval: 100 },
  ).catch((e) => {
    throw new Error(`${e.message}\n--- gateway output tail ---\n${tail(proc.output)}`);
  });
  const httpReady = Date.now() - started;
  for (const [what, re] of readyLines) await waitForOutput(proc, re, what, CHANNEL_LINE_TIMEOUT);
  const channelReady = Date.now() - started;
  log(`${host} gateway pid ${proc.pid}: HTTP ready in ${secs(httpReady)}, channel ready in ${secs(channelReady)}`);
  return { proc, env, port, httpReady, channelReady };
}

let cliCounter = 0;
async function cli(host, lab, env, args, { timeout = CLI_TIMEOUT } = {}) {
  const n = ++cliCounter;
  const name = `cli-${String(n).padStart(2, "0")}-${args.slice(0, 2).join("-")}`;
  const started = Date.now();
  const proc = startProcess(lab, name, process.execPath, [HOSTS[host].entry, ...args], { env });
  const exit = await within(proc.exited, timeout);
  await stopProcess(proc);
  const ms = Date.now() - started;
  if (!exit) throw new Error(`\`${args.join(" ")}\` timed out after ${secs(timeout)}\n${tail(proc.output)}`);
  return { code: exit.code, output: proc.output, stdout: proc.stdout, ms };
}

// ---------------------------------------------------------------------------------------------
// Checks

const results = [];
const metrics = [];

async function check(scope, name, fn) {
  const started = Date.now();
  try {
    const detail = await fn();
    results.push({ scope, name, ok: true });
    log(`PASS ${scope}: ${name} (${secs(Date.now() - started)})${detail ? ` — ${detail}` : ""}`);
    return true;
  } catch (e) {
    results.push({ scope, name, ok: false, error: e.message });
    log(`FAIL ${scope}: ${name} (${secs(Date.now() - started)})\n${e.message.replace(/^/gm, "       ")}`);
    return false;
  }
}

function fail(scope, name, message) {
  results.push({ scope, name, ok: false, error: message });
  log(`FAIL ${scope}: ${name}\n${message.replace(/^/gm, "       ")}`);
}

/** Waits for the first LLM request at or after `since` whose body contains every needle. */
async function waitLlm(llm, since, needles, what) {
  return waitFor(`LLM request with ${what}`, async () => {
    const reqs = await llm.requests(since);
    return reqs.find((r) => {
      const body = JSON.stringify(r.body);
      return needles.every((n) => body.includes(n));
    });
  });
}

/** Waits for the first Team Chat send after index `from` matching `pred`. */
async function waitTeamChat(fz, from, pred, what) {
  return waitFor(`Team Chat send ${what}`, async () => (await fz.teamChat()).slice(from).find(pred));
}

/** Asserts that neither an LLM request nor a Team Chat send happens during the quiet window. */
async function expectQuiet(llm, fz, llmSince, chatFrom, what) {
  await sleep(QUIET_WINDOW);
  const reqs = await llm.requests(llmSince);
  const sends = (await fz.teamChat()).slice(chatFrom);
  if (reqs.length || sends.length) {
    throw new Error(
      `${what}: expected no agent turn, got ${reqs.length} LLM request(s) [${reqs.map((r) => JSON.stringify(r.text)).join(", ")}] and ${sends.length} Team Chat send(s) [${sends.map((s) => JSON.stringify(s.body)).join(", ")}]`,
    );
  }
}

function rssReport(gateway) {
  const family = [gateway.proc.pid, ...descendants(gateway.proc.pid)];
  let gatewayKb = 0;
  let sidecarKb = 0;
  const parts = [];
  for (const p of family) {
    const kb = rssKb(p);
    const c = comm(p);
    if (c === "moltbot-zoom") sidecarKb += kb;
    else gatewayKb += kb;
    parts.push(`${p}:${c}:${Math.round(kb / 1024)}MB`);
  }
  return { gatewayMb: Math.round(gatewayKb / 1024), sidecarMb: Math.round(sidecarKb / 1024), parts };
}

function chatTo(contact) {
  return (s) => s.body?.to_contact === contact;
}

// Zoom events (webhook format, as pushed on the WebSocket).
function meetingObject(id, topic) {
  return { id, uuid: `uuid-${id}==`, host_id: "host-me-id", topic, type: 2, start_time: new Date().toISOString(), timezone: "UTC", duration: 30 };
}
function zoomEvent(event, payload) {
  return { event, event_ts: Date.now(), payload: { account_id: "fake-account", ...payload } };
}
const meetingStarted = (id, topic) => zoomEvent("meeting.started", { object: meetingObject(id, topic) });
const meetingEnded = (id, topic) => zoomEvent("meeting.ended", { object: { ...meetingObject(id, topic), end_time: new Date().toISOString() } });
const participantJoined = (id, topic, name, email) =>
  zoomEvent("meeting.participant_joined", {
    object: {
      ...meetingObject(id, topic),
      participant: { user_id: "16778240", user_name: name, email, join_time: new Date().toISOString(), participant_uuid: `pu-${email}` },
    },
  });
let dmCounter = 0;
const dmPosted = (from, text) =>
  zoomEvent("team_chat.dm_message_posted", {
    operator: from,
    operator_id: `id-${from}`,
    operator_member_id: `member-${from}`,
    by_external_user: false,
    object: {
      message_id: `dm-${Date.now()}-${++dmCounter}`,
      date_time: new Date().toISOString(),
      timestamp: Date.now(),
      contact_email: ME,
      contact_id: "id-me",
      contact_member_id: "member-me",
      session_id: `session-${from}`,
      message: text,
    },
  });

let channelCounter = 0;
/** `team_chat.channel_message_posted` from `from` in `channelId`; `mention` adds an at_items entry naming it. */
const channelPosted = (from, channelId, text, mention) =>
  zoomEvent("team_chat.channel_message_posted", {
    operator: from,
    operator_id: `id-${from}`,
    operator_member_id: `member-${from}`,
    by_external_user: false,
    object: {
      message_id: `ch-${Date.now()}-${++channelCounter}`,
      date_time: new Date().toISOString(),
      timestamp: Date.now(),
      channel_id: channelId,
      channel_name: `Channel ${channelId}`,
      channel_owner_account_id: "fake-account",
      session_id: `${channelId}@conference.xmpp.zoom.us`,
      message: text,
      ...(mention
        ? { at_items: [{ at_contact: mention, at_contact_user_id: `id-${mention}`, at_contact_member_id: `member-${mention}`, at_type: 1, start_position: 0, end_position: 5 }] }
        : {}),
    },
  });
const chatToChannel = (channelId) => (s) => s.body?.to_channel === channelId;
/** The pairing code in a host's pairing reply (Clawdbot: `Pairing code: X`; OpenClaw: in a fenced block). */
const pairingCodeOf = (text) => /Pairing code:[\s`]*([A-Z0-9]{4,})/.exec(String(text))?.[1];

// ---------------------------------------------------------------------------------------------
// Scenarios

async function installExtension(lab, opts) {
  const extDir = path.join(lab.state, "extensions");
  if (opts.manualExtension) {
    fs.mkdirSync(extDir, { recursive: true });
    const dest = path.join(extDir, "zoom");
    fs.cpSync(opts.manualExtension, dest, { recursive: true, filter: (src) => !/\/(node_modules|test)(\/|$)/.test(src) });
    fs.mkdirSync(path.join(dest, "bin"), { recursive: true });
    fs.rmSync(path.join(dest, "bin/moltbot-zoom"), { force: true });
    fs.symlinkSync(MOLTBOT_ZOOM_BIN, path.join(dest, "bin/moltbot-zoom"));
    // As `moltbot-zoom install` does: the binary is here, so no npm dependency (OpenClaw
    // refuses to load a plugin whose declared dependencies are missing).
    const pkgFile = path.join(dest, "package.json");
    const pkg = JSON.parse(fs.readFileSync(pkgFile, "utf8"));
    delete pkg.dependencies;
    fs.writeFileSync(pkgFile, `${JSON.stringify(pkg, null, 2)}\n`);
    log(`extension copied by hand from ${opts.manualExtension} (--manual-extension)`);
    return;
  }
  const proc = startProcess(lab, "install", MOLTBOT_ZOOM_BIN, ["install", "--extensions-dir", extDir]);
  const exit = await within(proc.exited, CLI_TIMEOUT);
  await stopProcess(proc);
  if (!exit || exit.code !== 0) throw new Error(`moltbot-zoom install failed (${JSON.stringify(exit)}):\n${tail(proc.output)}`);
  const zoomDir = path.join(extDir, "zoom");
  const files = fs.existsSync(zoomDir) ? fs.readdirSync(zoomDir) : [];
  log(`installed extension into ${zoomDir}: ${files.join(", ")}`);
}

// ---------------------------------------------------------------------------------------------
// The npm path: a loopback registry (verdaccio, no uplink) serving the packed packages, and the
// host's own `plugins install` / `channels add`.

let registry;

/** Parses a JSON config file the host rewrote (JSON; the hosts write no comments). */
function readConfig(host, lab) {
  return JSON.parse(fs.readFileSync(path.join(lab.state, HOSTS[host].configFile), "utf8"));
}

function writeConfigObject(host, lab, config) {
  fs.writeFileSync(path.join(lab.state, HOSTS[host].configFile), `${JSON.stringify(config, null, 2)}\n`);
}

function duBytes(dir) {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += duBytes(p);
    else if (e.isFile()) total += fs.statSync(p).size;
  }
  return total;
}

function findFile(dir, suffix) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      const hit = findFile(p, suffix);
      if (hit) return hit;
    } else if (p.endsWith(suffix)) return p;
  }
  return undefined;
}

const mib = (bytes) => (bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(2)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`);

/**
 * Packs (unless MOLTBOT_ZOOM_NPM_DIR holds the packages), starts verdaccio on a free loopback
 * port with no uplink, registers a user and publishes the packages. Once per run.
 */
async function startRegistry(root) {
  if (registry) return registry;
  const lab = makeLab(root, "registry");
  let dir = NPM_DIR;
  if (!dir) {
    dir = path.join(lab.dir, "npm");
    const proc = startProcess(lab, "pack", process.execPath, [path.join(REPO, "scripts/pack.mjs"), "--bin", MOLTBOT_ZOOM_BIN, "--out", dir]);
    const exit = await within(proc.exited, CLI_TIMEOUT);
    await stopProcess(proc);
    if (!exit || exit.code !== 0) throw new Error(`scripts/pack.mjs failed (${JSON.stringify(exit)}):\n${tail(proc.output)}`);
    log(`packed ${MOLTBOT_ZOOM_BIN} (a dev build; CI packs the release sidecar: MOLTBOT_ZOOM_NPM_DIR)`);
  }
  const tarballs = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".tgz")).map((f) => path.join(dir, f)) : [];
  if (tarballs.length < 3) throw new Error(`${dir} lacks the packed packages (node scripts/pack.mjs --out ${dir}): ${tarballs.join(", ") || "none"}`);
  for (const t of tarballs) metrics.push({ scope: "npm", what: `package ${path.basename(t)}`, value: mib(fs.statSync(t).size) });

  if (!fs.existsSync(VERDACCIO)) throw new Error(`${VERDACCIO} missing; run tests/host/install.sh`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const config = path.join(lab.dir, "verdaccio.yaml");
  fs.writeFileSync(
    config,
    [
      `storage: ${JSON.stringify(path.join(lab.dir, "storage"))}`,
      "auth:",
      "  htpasswd:",
      `    file: ${JSON.stringify(path.join(lab.dir, "htpasswd"))}`,
      "    max_users: 1",
      "uplinks: {}",
      "packages:",
      "  '**':",
      "    access: $all",
      "    publish: $authenticated",
      "log: { type: stdout, format: json, level: http }",
      "",
    ].join("\n"),
  );
  const proc = startProcess(lab, "verdaccio", process.execPath, [VERDACCIO, "--config", config, "--listen", `127.0.0.1:${port}`]);
  // It serves every host's scenario: stopped at the end of the run, not with a scenario.
  running.splice(running.indexOf(proc), 1);
  process.on("exit", () => {
    try {
      process.kill(-proc.pid, "SIGKILL");
    } catch {
      /* gone */
    }
  });
  await waitFor("verdaccio /-/ping", async () => {
    if (proc.exit) throw Object.assign(new Error(`verdaccio exited ${JSON.stringify(proc.exit)}\n${tail(proc.output)}`), { fatal: true });
    return (await http("GET", `${url}-/ping`).catch(() => ({}))).status === 200;
  });
  const user = await http("PUT", `${url}-/user/org.couchdb.user:e2e`, { name: "e2e", password: "e2e-publisher-pass" });
  if (!user.json?.token) throw new Error(`cannot register the publisher: ${user.status} ${user.text}`);
  const publishRc = path.join(lab.dir, "publish.npmrc");
  fs.writeFileSync(publishRc, `registry=${url}\n//127.0.0.1:${port}/:_authToken=${user.json.token}\n`);
  // Platform package first, the extension last (as a release would).
  const order = (f) => (f.includes("sidecar-") ? 0 : f.includes("sidecar") ? 1 : 2);
  for (const t of tarballs.sort((a, b) => order(a) - order(b))) {
    const pub = startProcess(lab, `publish-${path.basename(t, ".tgz")}`, "npm", ["publish", t, "--userconfig", publishRc, "--registry", url], {
      env: { ...baseEnv(), PATH: `${path.dirname(process.execPath)}:${process.env.PATH}`, HOME: lab.home },
    });
    const exit = await within(pub.exited, CLI_TIMEOUT);
    await stopProcess(pub);
    if (!exit || exit.code !== 0) throw new Error(`npm publish ${t} failed (${JSON.stringify(exit)}):\n${tail(pub.output)}`);
  }
  /** The GET / HEAD paths the registry answered (verdaccio's JSON log), in order. */
  const requests = () =>
    proc.output
      .split("\n")
      .filter((l) => l.startsWith("{") && l.includes('"request"'))
      .map((l) => {
        try {
          return JSON.parse(l).request;
        } catch {
          return undefined;
        }
      })
      .filter((r) => r && ["GET", "HEAD"].includes(r.method))
      .map((r) => r.url);
  log(`registry ${url} (verdaccio, no uplink) serves ${tarballs.map((t) => path.basename(t)).join(", ")}`);
  registry = { url, proc, lab, tarballs, requests };
  return registry;
}

/** The host's environment for the install step: the registry in ~/.npmrc, no Rust toolchain on PATH. */
function npmInstallEnv(host, lab) {
  const env = hostEnv(host, lab);
  const rust = ["cargo", "rustc", "rustup"];
  env.PATH = env.PATH.split(path.delimiter)
    .filter((d) => d && !rust.some((b) => fs.existsSync(path.join(d, b))))
    .join(path.delimiter);
  for (const k of Object.keys(env)) if (/^(CARGO|RUSTUP|RUSTC)/.test(k)) delete env[k];
  fs.writeFileSync(path.join(lab.home, ".npmrc"), `registry=${registry.url}\n`);
  return env;
}

/** Non-interactive `plugins install`: OpenClaw asks to confirm an npm source and its capabilities. */
const INSTALL_FLAGS = { clawdbot: [], openclaw: ["--force", "--accept-capabilities"] };

/**
 * `channels add --channel zoom`, non-interactive: Clawdbot's fixed flag set (--use-env,
 * --user-id, --dm-allowlist), OpenClaw's plugin-owned flags. Returns the env the gateway needs.
 */
function channelsAddArgs(host, fz) {
  if (host === "clawdbot") {
    return {
      args: ["channels", "add", "--channel", "zoom", "--use-env", "--user-id", ME, "--dm-allowlist", "alice@example.com"],
      env: { ZOOM_ACCOUNT_ID: fz.accountId, ZOOM_CLIENT_ID: fz.clientId, ZOOM_CLIENT_SECRET: fz.clientSecret, ZOOM_SUBSCRIPTION_ID: fz.subscriptionId },
    };
  }
  return {
    args: [
      "channels", "add", "--channel", "zoom",
      "--zoom-account-id", fz.accountId, "--client-id", fz.clientId, "--client-secret", fz.clientSecret,
      "--subscription-id", fz.subscriptionId, "--sender", ME, "--allow-from", "alice@example.com", "--dm-policy", "pairing",
    ],
    env: {},
  };
}

/**
 * The user's path: `<host> plugins install @moltbot-zoom/zoom` (no cargo / rustc on PATH),
 * the endpoints of fake Zoom, then `channels add --channel zoom` with flags. Returns the env
 * the gateway needs, or undefined after a failed check.
 */
async function installThroughHost(host, lab, fz, sidecarPort) {
  const scope = host;
  const reg = await startRegistry(path.dirname(lab.dir));
  const env = npmInstallEnv(host, lab);
  const noRust = await check(scope, "no cargo / rustc on the install step's PATH", async () => {
    const r = spawnSync("sh", ["-c", "command -v cargo || command -v rustc"], { env, encoding: "utf8" });
    if (r.status === 0) throw new Error(`found ${r.stdout.trim()}`);
  });
  if (!noRust) return undefined;
  const servedBefore = reg.requests().length;
  const cmd = ["plugins", "install", PACKAGE, ...INSTALL_FLAGS[host]];
  const installed = await check(scope, `\`${host} ${cmd.join(" ")}\` from the loopback registry brings ${PLATFORM_PACKAGE}`, async () => {
    const r = await cli(host, lab, env, cmd);
    if (r.code !== 0) throw new Error(`exit ${r.code}\n${tail(r.output)}`);
    const bin = findFile(lab.state, path.join(PLATFORM_PACKAGE.split("/")[1], "bin", "moltbot-zoom"));
    if (!bin) throw new Error(`no ${PLATFORM_PACKAGE}/bin/moltbot-zoom under ${lab.state}\n${tail(r.output)}`);
    const root = bin.slice(0, bin.lastIndexOf(`${path.sep}node_modules${path.sep}`));
    metrics.push({ scope, what: `${host} ${cmd.join(" ")} (wall)`, value: secs(r.ms) });
    metrics.push({ scope, what: "installed plugin size on disk", value: mib(duBytes(root)) });
    return `${secs(r.ms)}, ${mib(duBytes(root))} in ${path.relative(lab.dir, root)}`;
  });
  if (!installed) return undefined;
  await check(scope, "the install fetched no package but @moltbot-zoom ones (no uplink needed)", () => {
    const names = [...new Set(reg.requests().slice(servedBefore).filter((u) => !u.startsWith("/-/")).map((u) => decodeURIComponent(u.split("/-/")[0]).slice(1)))];
    // npm asks for its own packument (`npm`, its update notifier); that is no dependency.
    const foreign = names.filter((n) => !n.startsWith("@moltbot-zoom/") && n !== "npm");
    if (!names.length) throw new Error("the registry saw no request");
    if (foreign.length) throw new Error(`requests for other packages: ${foreign.join(", ")}`);
    return names.join(", ");
  });

  // The endpoints (fake Zoom instead of zoom.us) and the sidecar's ports: what a user leaves
  // at their defaults.
  const config = readConfig(host, lab);
  fs.mkdirSync(path.join(lab.dir, "zoom"), { recursive: true });
  config.channels = {
    ...config.channels,
    zoom: {
      oauthUrl: fz.baseUrl,
      apiUrl: fz.baseUrl,
      wsUrl: fz.wsUrl,
      listen: `127.0.0.1:${sidecarPort}`,
      dmPolicy: "pairing",
      database: path.join(lab.dir, "zoom", "zoom.sqlite"),
    },
  };
  writeConfigObject(host, lab, config);

  const add = channelsAddArgs(host, fz);
  let zoom;
  const added = await check(scope, "`channels add --channel zoom` (non-interactive) writes a valid channels.zoom with a generated password", async () => {
    const r = await cli(host, lab, { ...env, ...add.env }, add.args);
    if (r.code !== 0) throw new Error(`exit ${r.code}\n${tail(r.output)}`);
    if (r.output.includes(fz.clientSecret)) throw new Error("channels add printed the client secret");
    zoom = readConfig(host, lab).channels?.zoom ?? {};
    const want = host === "clawdbot"
      ? { clientId: "${ZOOM_CLIENT_ID}", clientSecret: "${ZOOM_CLIENT_SECRET}", zoomAccountId: "${ZOOM_ACCOUNT_ID}", subscriptionId: "${ZOOM_SUBSCRIPTION_ID}" }
      : { clientId: fz.clientId, clientSecret: fz.clientSecret, zoomAccountId: fz.accountId, subscriptionId: fz.subscriptionId };
    Object.assign(want, { enabled: true, sender: ME, oauthUrl: fz.baseUrl });
    for (const [k, v] of Object.entries(want)) if (zoom[k] !== v) throw new Error(`channels.zoom.${k} = ${JSON.stringify(k === "clientSecret" ? "…" : zoom[k])}, expected ${k === "clientSecret" ? "the secret" : JSON.stringify(v)}`);
    if (JSON.stringify(zoom.allowFrom) !== JSON.stringify(["alice@example.com"])) throw new Error(`allowFrom ${JSON.stringify(zoom.allowFrom)}`);
    if ((zoom.defaultTo ?? zoom.defaultTarget) !== ME) throw new Error(`default target ${zoom.defaultTo ?? zoom.defaultTarget}, expected the sender`);
    if (!/^[A-Za-z0-9_-]{32}$/.test(zoom.password ?? "")) throw new Error("no generated 32-character password");
    metrics.push({ scope, what: "channels add --channel zoom (wall)", value: secs(r.ms) });
    return `CLI ${secs(r.ms)}`;
  });
  if (!added) return undefined;
  return { gatewayEnv: add.env, password: zoom.password };
}

async function extensionScenario(host, root, opts) {
  const scope = host;
  const lab = makeLab(root, host);
  const entry = HOSTS[host].entry;
  if (!fs.existsSync(entry)) return fail(scope, "gateway installed", `${entry} missing; run tests/host/install.sh`);

  let llm, fz, gateway;
  try {
    llm = await startFakeLlm(lab);
    fz = await startFakeZoom(lab, "fake-zoom");
    log(`${scope}: fake LLM ${llm.url}, fake Zoom ${fz.baseUrl}`);
    const gatewayPort = await freePort();
    const sidecarPort = await freePort();
    const viaNpm = EXTENSION_INSTALL === "npm" && !opts.manualExtension;
    let gatewayEnv = {};
    let password = ZOOM_PASSWORD;
    if (viaNpm) {
      writeConfig(host, lab, { gatewayPort, llmUrl: llm.url, channels: {}, plugins: { slots: { memory: "none" } } });
      const installed = await installThroughHost(host, lab, fz, sidecarPort);
      if (!installed) return;
      ({ gatewayEnv, password } = installed);
    }
    const ok = viaNpm || (await check(scope, "moltbot-zoom install writes the extension", () => installExtension(lab, opts)));
    if (!ok) return;
    const zoom = {
      enabled: true,
      ...zoomAccount(fz, sidecarPort, {
        defaultTo: ME,
        password: ZOOM_PASSWORD,
        dmPolicy: "pairing",
        allowFrom: ["alice@example.com"],
        groupPolicy: "allowlist",
        database: path.join(lab.dir, "zoom", "zoom.sqlite"),
      }),
    };
    fs.mkdirSync(path.join(lab.dir, "zoom"), { recursive: true });
    if (!viaNpm) {
      writeConfig(host, lab, {
        gatewayPort,
        llmUrl: llm.url,
        channels: { zoom },
        plugins: { slots: { memory: "none" }, entries: { zoom: { enabled: true } } },
      });
    }

    const booted = await check(scope, "gateway starts and the zoom channel starts", async () => {
      gateway = await startGateway(host, lab, gatewayPort, [["zoom channel started line", /zoom channel started/]], "gateway", gatewayEnv);
      return `HTTP ${secs(gateway.httpReady)}, channel ${secs(gateway.channelReady)}`;
    });
    if (!booted) return;
    if (viaNpm) {
      await check(scope, `the extension runs the sidecar from ${PLATFORM_PACKAGE}`, () => {
        const line = /zoom channel started \(sidecar (\S+), pid/.exec(gateway.proc.output)?.[1];
        if (!line?.includes(path.join(PLATFORM_PACKAGE, "bin", "moltbot-zoom"))) throw new Error(`sidecar: ${line ?? "(no start line)"}`);
        return line;
      });
    }
    const env = gateway.env;
    metrics.push({ scope, what: "gateway HTTP ready", value: secs(gateway.httpReady) });
    metrics.push({ scope, what: "zoom channel started", value: secs(gateway.channelReady) });

    await check(scope, "plugins list --json shows zoom loaded", async () => {
      const r = await cli(host, lab, env, ["plugins", "list", "--json"]);
      if (r.code !== 0) throw new Error(`exit ${r.code}\n${tail(r.output)}`);
      const zoomRows = findObjects(cliJson(r), (o) => o.id === "zoom" && "status" in o);
      if (!zoomRows.length) throw new Error(`no zoom plugin in output\n${tail(r.output)}`);
      if (!zoomRows.some((o) => o.status === "loaded")) throw new Error(`zoom status: ${zoomRows.map((o) => JSON.stringify(o.status)).join(", ")}${zoomRows[0].error ? ` (${zoomRows[0].error})` : ""}`);
      return `CLI ${secs(r.ms)}`;
    });

    await check(scope, "config with channels.zoom validates (config get channels.zoom)", async () => {
      const r = await cli(host, lab, env, ["config", "get", "channels.zoom"]);
      if (r.code !== 0) throw new Error(`exit ${r.code}\n${tail(r.output)}`);
      if (!r.output.includes(ME)) throw new Error(`output lacks channels.zoom content\n${tail(r.output)}`);
      if (r.output.includes(password) || r.output.includes(fz.clientSecret)) log(`note: config get prints secrets in clear (host behaviour)`);
    });

    await check(scope, "CLI agent turn reaches the fake LLM (baseline)", async () => {
      const r = await cli(host, lab, env, ["agent", "--session-id", "e2e-cli", "--message", "ping via cli", "--json"]);
      if (r.code !== 0) throw new Error(`exit ${r.code}\n${tail(r.output)}`);
      const texts = findObjects(cliJson(r), (o) => typeof o.text === "string").map((o) => o.text);
      if (!texts.includes("ACK: ping via cli")) throw new Error(`no "ACK: ping via cli" in the result\n${tail(r.output)}`);
      return `CLI ${secs(r.ms)}`;
    });

    const connected = await check(scope, "sidecar connects to the fake Zoom WebSocket", async () => {
      const s = await waitFor("an open WS connection at fake Zoom", async () => {
        const st = await fz.stats();
        return st?.open_connections >= 1 && st;
      });
      return `token_requests=${s.token_requests} ws_connects=${s.ws_connects}`;
    });

    const meetingId = "81234567890";
    const topic = "E2E Weekly Sync";
    let chatCount = 0;
    if (connected) {
      let started;
      await check(scope, "meeting.started reaches the agent (prompt has topic and meeting id)", async () => {
        const since = await llm.next();
        chatCount = (await fz.teamChat()).length;
        const pushedAt = await fz.push(meetingStarted(meetingId, topic));
        const req = await waitLlm(llm, since, [topic, meetingId], `"${topic}" and ${meetingId}`);
        started = { pushedAt, req };
        metrics.push({ scope, what: "meeting.started: Zoom frame → LLM request", value: secs(req.at - pushedAt) });
        return `${secs(req.at - pushedAt)} frame → LLM`;
      });
      await check(scope, "the agent's reply reaches Team Chat at the default target", async () => {
        if (!started) throw new Error("no agent turn (previous check failed)");
        const sent = await waitTeamChat(fz, chatCount, (s) => chatTo(ME)(s) && String(s.body.message).includes("ACK:"), `to ${ME}`);
        if (!String(sent.body.message).includes(started.req.reply.slice(0, 60))) {
          throw new Error(`Team Chat message ${JSON.stringify(sent.body.message)} does not carry the LLM reply ${JSON.stringify(started.req.reply)}`);
        }
        metrics.push({ scope, what: "meeting.started: LLM reply → Team Chat send", value: secs(sent.at_ms - started.req.doneAt) });
        metrics.push({ scope, what: "meeting.started: Zoom frame → Team Chat send", value: secs(sent.at_ms - started.pushedAt) });
        return `${secs(sent.at_ms - started.req.doneAt)} LLM reply → Team Chat`;
      });

      await check(scope, "participant_joined (context mode) starts no agent turn; neither does the reply's self-echo", async () => {
        const since = await llm.next();
        const from = (await fz.teamChat()).length;
        await fz.push(participantJoined(meetingId, topic, "Carol Participant", "carol@example.com"));
        await expectQuiet(llm, fz, since, from, "meeting.participant_joined");
      });
      await check(scope, "the joined participant appears in the next turn of the meeting (meeting.ended)", async () => {
        const since = await llm.next();
        const from = (await fz.teamChat()).length;
        const pushedAt = await fz.push(meetingEnded(meetingId, topic));
        const req = await waitLlm(llm, since, [topic], `meeting.ended of "${topic}"`);
        if (!JSON.stringify(req.body).includes("Carol Participant")) {
          throw new Error(`the meeting.ended turn's prompt lacks "Carol Participant"; last user text: ${JSON.stringify(req.userTail)}`);
        }
        await waitTeamChat(fz, from, (s) => chatTo(ME)(s) && String(s.body.message).includes("ACK:"), `reply to ${ME}`);
        const turns = await llm.requests(since);
        if (turns.length !== 1) throw new Error(`expected one agent turn (meeting.ended), got ${turns.length}: ${turns.map((r) => JSON.stringify(r.text)).join(", ")}`);
        return `${secs(req.at - pushedAt)} frame → LLM`;
      });

      await check(scope, "DM from allowlisted alice@example.com is answered in the same DM", async () => {
        const since = await llm.next();
        const from = (await fz.teamChat()).length;
        const text = "hello from alice dm";
        const pushedAt = await fz.push(dmPosted("alice@example.com", text));
        const req = await waitLlm(llm, since, [text], JSON.stringify(text));
        const sent = await waitTeamChat(fz, from, chatTo("alice@example.com"), "to alice@example.com");
        if (sent.body.message !== `ACK: ${text}`) throw new Error(`reply text ${JSON.stringify(sent.body.message)}, expected ${JSON.stringify(`ACK: ${text}`)}`);
        metrics.push({ scope, what: "DM: Zoom frame → LLM request", value: secs(req.at - pushedAt) });
        metrics.push({ scope, what: "DM: LLM reply → Team Chat send", value: secs(sent.at_ms - req.doneAt) });
        return `${secs(req.at - pushedAt)} frame → LLM, ${secs(sent.at_ms - req.doneAt)} LLM → Team Chat`;
      });

      let malloryCode;
      await check(scope, "DM from unknown mallory@example.com gets a pairing code by Team Chat and no agent turn", async () => {
        const since = await llm.next();
        const from = (await fz.teamChat()).length;
        await fz.push(dmPosted("mallory@example.com", "mallory wants in"));
        const code = await waitTeamChat(fz, from, chatTo("mallory@example.com"), "pairing code to mallory@example.com");
        malloryCode = pairingCodeOf(code.body.message);
        if (!malloryCode) throw new Error(`no pairing code in ${JSON.stringify(code.body.message)}`);
        // A later allowlisted DM proves the sidecar got past mallory's (events keep their order).
        const sentinel = "alice again after mallory";
        await fz.push(dmPosted("alice@example.com", sentinel));
        await waitTeamChat(fz, from, (s) => chatTo("alice@example.com")(s) && s.body.message === `ACK: ${sentinel}`, "sentinel reply to alice");
        const sends = (await fz.teamChat()).slice(from);
        const reqs = await llm.requests(since);
        if (sends.length !== 2 || reqs.length !== 1) {
          throw new Error(`expected the pairing code and the sentinel's turn only, got ${reqs.length} LLM request(s) and sends ${JSON.stringify(sends.map((x) => x.body))}`);
        }
        return `code ${malloryCode}`;
      });
      await check(scope, `\`${host} pairing approve zoom <code>\` lets mallory in: her next DM is answered`, async () => {
        if (!malloryCode) throw new Error("no pairing code (previous check failed)");
        const r = await cli(host, lab, env, ["pairing", "approve", "zoom", malloryCode]);
        if (r.code !== 0) throw new Error(`exit ${r.code}\n${tail(r.output)}`);
        const since = await llm.next();
        const from = (await fz.teamChat()).length;
        const text = "mallory after approval";
        await fz.push(dmPosted("mallory@example.com", text));
        await waitLlm(llm, since, [text], JSON.stringify(text));
        const sent = await waitTeamChat(fz, from, chatTo("mallory@example.com"), "reply to mallory@example.com");
        if (sent.body.message !== `ACK: ${text}`) throw new Error(`reply text ${JSON.stringify(sent.body.message)}`);
        return `approve CLI ${secs(r.ms)}`;
      });

      await check(scope, "channel message without a mention starts no turn; one mentioning the sender does", async () => {
        const since = await llm.next();
        const from = (await fz.teamChat()).length;
        // alice is in allowFrom, the fallback sender list of groupPolicy "allowlist".
        await fz.push(channelPosted("alice@example.com", "chan-ops", "lunch at noon, anyone?"));
        await expectQuiet(llm, fz, since, from, "unmentioned channel message");
        const text = "what is blocking the release?";
        const pushedAt = await fz.push(channelPosted("alice@example.com", "chan-ops", `@assistant ${text}`, ME));
        const req = await waitLlm(llm, since, [text], JSON.stringify(text));
        const sent = await waitTeamChat(fz, from, chatToChannel("chan-ops"), "reply in chan-ops");
        if (!String(sent.body.message).includes(text)) throw new Error(`reply ${JSON.stringify(sent.body.message)}`);
        const reqs = await llm.requests(since);
        if (reqs.length !== 1) throw new Error(`expected one agent turn, got ${reqs.length}`);
        return `${secs(req.at - pushedAt)} frame → LLM`;
      });
    }

    await check(scope, "CLI message send --channel zoom --target bob@example.com reaches Zoom", async () => {
      const from = (await fz.teamChat()).length;
      const r = await cli(host, lab, env, ["message", "send", "--channel", "zoom", "--target", "bob@example.com", "--message", "hi from cli"]);
      if (r.code !== 0) throw new Error(`exit ${r.code}\n${tail(r.output)}`);
      const sent = await waitTeamChat(fz, from, chatTo("bob@example.com"), "to bob@example.com");
      if (sent.body.message !== "hi from cli") throw new Error(`message ${JSON.stringify(sent.body.message)}`);
      return `CLI ${secs(r.ms)}`;
    });

    await check(scope, "channels status --probe shows zoom running and connected", async () => {
      const r = await cli(host, lab, env, ["channels", "status", "--probe", "--json"]);
      if (r.code !== 0) throw new Error(`exit ${r.code}\n${tail(r.output)}`);
      const json = cliJson(r);
      const zoomAccounts = findObjects(json?.channelAccounts?.zoom ?? json?.channels?.zoom ?? json, (o) => o.accountId === "default" && "running" in o);
      if (!zoomAccounts.length) throw new Error(`no zoom account snapshot in output\n${tail(r.output)}`);
      const a = zoomAccounts[0];
      if (a.running !== true || a.connected !== true) throw new Error(`zoom account: ${JSON.stringify(a)}`);
      return `running, connected (CLI ${secs(r.ms)})`;
    });

    if (connected) {
      const all = await llm.requests(0);
      await check(scope, "no prompt ever carried the non-allowlisted DM", () => {
        const leaked = all.filter((r) => JSON.stringify(r.body).includes("mallory wants in"));
        if (leaked.length) throw new Error(`${leaked.length} LLM request(s) contain mallory's text`);
      });
      metrics.push({ scope, what: "LLM requests in total", value: String(all.length) });

      await check(scope, "gateway log: a sidecar ERROR is filed as an error, and the zoom lines carry no escape codes", async () => {
        // Zoom refuses the token refresh: the sidecar logs `ERROR Zoom OAuth refused`.
        await fz.knobs({ fail_oauth: true });
        let entry;
        try {
          await fz.expireTokens();
          await fz.drop();
          entry = await waitFor(
            "a sidecar ERROR line at level ERROR in the gateway's log file",
            () => hostLogEntries(lab).find((e) => e.text.includes("sidecar:") && e.text.includes("OAuth refused")),
            { timeout: 60_000, interval: 250 },
          );
        } finally {
          await fz.knobs({ fail_oauth: false });
        }
        if (entry.level !== "ERROR") throw new Error(`filed at ${entry.level}: ${entry.raw.slice(0, 300)}`);
        await waitFor("the sidecar back on the fake Zoom WebSocket", async () => (await fz.stats())?.open_connections >= 1, { timeout: 90_000 });
        const files = [path.join(lab.logs, "host.log"), gateway.proc.logFile];
        const escaped = files.flatMap((f) =>
          fs.readFileSync(f, "utf8").split("\n").filter((l) => l.includes("zoom") && l.includes("\u001b[")),
        );
        if (escaped.length) throw new Error(`${escaped.length} zoom line(s) with escape codes, e.g. ${JSON.stringify(escaped[0].slice(0, 200))}`);
        return `level ${entry.level}; no escape codes in ${files.map((f) => path.basename(f)).join(", ")}`;
      });
    }
    const rss = rssReport(gateway);
    metrics.push({ scope, what: "RSS gateway (+ node descendants)", value: `${rss.gatewayMb} MB` });
    metrics.push({ scope, what: "RSS sidecar", value: `${rss.sidecarMb} MB` });
    log(`${scope} processes: ${rss.parts.join(" ")}`);
    if (!rss.parts.some((p) => p.includes(":moltbot-zoom:"))) log(`note: no moltbot-zoom process found under the gateway`);
  } finally {
    if (gateway) {
      const sidecar = sidecarState(lab);
      const others = await stopProcess(gateway.proc, { spare: sidecar?.pid ? [sidecar.pid] : [] });
      await check(scope, "stopping the gateway leaves only the detached sidecar running (own session), still connected", async () => {
        if (others.length) throw new Error(`still alive after the gateway stopped (killed now): ${others.join(", ")}`);
        if (!sidecar?.pid || !alive(sidecar.pid)) throw new Error(`sidecar ${JSON.stringify(sidecar)} did not outlive the gateway`);
        const st = await fz.stats();
        if (!(st?.open_connections >= 1)) throw new Error(`sidecar not connected to Zoom after the gateway stopped: ${JSON.stringify(st)}`);
        return `sidecar pid ${sidecar.pid} up, ${st.open_connections} Zoom connection(s)`;
      });
    }
    await stopSidecar(lab);
    await stopAll();
  }
}

/** Matches a host's complaint about the config file (both hosts say "Invalid config ..."). */
const CONFIG_ERROR = /invalid config|config invalid|config validation failed/i;
const MISSING_KEY = "channels.zoom.clientSecret";

/**
 * Empty state dir → `moltbot-zoom install` → a `channels.zoom` section without `clientSecret`:
 * the gateway still starts, the plugin loads, and `channels status` names the missing key.
 */
async function unconfiguredScenario(host, root, opts) {
  const scope = `${host} missing key`;
  const lab = makeLab(root, `${host}-missing-key`);
  if (!fs.existsSync(HOSTS[host].entry)) return fail(scope, "gateway installed", `${HOSTS[host].entry} missing`);
  let gateway;
  try {
    const installed = await check(scope, "moltbot-zoom install into an empty state dir", async () => {
      const before = fs.readdirSync(lab.state);
      if (before.length) throw new Error(`state dir not empty: ${before.join(", ")}`);
      await installExtension(lab, opts);
      const manifest = path.join(lab.state, "extensions/zoom/package.json");
      if (!fs.existsSync(manifest)) throw new Error(`${manifest} missing after install`);
    });
    if (!installed) return;
    const gatewayPort = await freePort();
    // Everything a websocket/user account needs except clientSecret; nothing listens on
    // port 9 (the sidecar must not start anyway).
    const unreachable = "http://127.0.0.1:9";
    const zoom = {
      enabled: true,
      clientId: "cid-missing-secret",
      zoomAccountId: "acct-missing-secret",
      subscriptionId: "sub-missing-secret",
      oauthUrl: unreachable,
      apiUrl: unreachable,
      wsUrl: "ws://127.0.0.1:9/ws",
      sender: ME,
      defaultTarget: ME,
      password: ZOOM_PASSWORD,
      listen: `127.0.0.1:${await freePort()}`,
      dmPolicy: "allowlist",
      allowFrom: ["alice@example.com"],
    };
    writeConfig(host, lab, {
      gatewayPort,
      llmUrl: `${unreachable}/v1`,
      channels: { zoom },
      plugins: { slots: { memory: "none" }, entries: { zoom: { enabled: true } } },
    });

    const booted = await check(scope, "gateway starts without a config error", async () => {
      gateway = await startGateway(host, lab, gatewayPort, []);
      const bad = CONFIG_ERROR.exec(gateway.proc.output);
      if (bad) throw new Error(`gateway output has "${bad[0]}"\n${tail(gateway.proc.output)}`);
      return `HTTP ${secs(gateway.httpReady)}`;
    });
    if (!booted) return;
    const env = gateway.env;
    metrics.push({ scope, what: "gateway HTTP ready", value: secs(gateway.httpReady) });

    await check(scope, "plugins list --json shows zoom loaded", async () => {
      const r = await cli(host, lab, env, ["plugins", "list", "--json"]);
      if (r.code !== 0) throw new Error(`exit ${r.code}\n${tail(r.output)}`);
      const rows = findObjects(cliJson(r), (o) => o.id === "zoom" && "status" in o);
      if (!rows.some((o) => o.status === "loaded")) throw new Error(`zoom rows: ${JSON.stringify(rows)}\n${tail(r.output)}`);
      return `CLI ${secs(r.ms)}`;
    });

    await check(scope, `channels status --json: zoom not configured, reason names ${MISSING_KEY}`, async () => {
      const r = await cli(host, lab, env, ["channels", "status", "--json"]);
      if (r.code !== 0) throw new Error(`exit ${r.code}\n${tail(r.output)}`);
      if (CONFIG_ERROR.test(r.output)) throw new Error(`config error in output\n${tail(r.output)}`);
      const json = cliJson(r);
      const accounts = findObjects(json?.channelAccounts?.zoom ?? json?.channels?.zoom ?? json, (o) => o.accountId === "default" && "configured" in o);
      if (!accounts.length) throw new Error(`no zoom account snapshot in output\n${tail(r.output)}`);
      const a = accounts[0];
      const fields = Object.entries(a).filter(([, v]) => typeof v === "string" && v.includes(MISSING_KEY));
      if (a.configured !== false || a.running === true || !fields.length) throw new Error(`zoom account: ${JSON.stringify(a)}`);
      return `${fields.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ")} (CLI ${secs(r.ms)})`;
    });

    await check(scope, `channels status (text) names ${MISSING_KEY}`, async () => {
      const r = await cli(host, lab, env, ["channels", "status"]);
      if (r.code !== 0) throw new Error(`exit ${r.code}\n${tail(r.output)}`);
      if (CONFIG_ERROR.test(r.output)) throw new Error(`config error in output\n${tail(r.output)}`);
      const line = r.output.split("\n").find((l) => l.includes(MISSING_KEY));
      if (!line) throw new Error(`no line names ${MISSING_KEY}\n${tail(r.output)}`);
      return `${JSON.stringify(line.trim())} (CLI ${secs(r.ms)})`;
    });

    await check(scope, "no sidecar started for the unconfigured account; gateway still up", () => {
      if (gateway.proc.exit) throw new Error(`gateway exited ${JSON.stringify(gateway.proc.exit)}\n${tail(gateway.proc.output)}`);
      const sidecars = descendants(gateway.proc.pid).filter((p) => comm(p) === "moltbot-zoom");
      if (sidecars.length) throw new Error(`moltbot-zoom running under the gateway: pids ${sidecars.join(", ")}`);
      const bad = CONFIG_ERROR.exec(gateway.proc.output);
      if (bad) throw new Error(`gateway output has "${bad[0]}"\n${tail(gateway.proc.output)}`);
    });
  } finally {
    if (gateway) await stopProcess(gateway.proc);
    await stopAll();
  }
}

// ---------------------------------------------------------------------------------------------
// Gateway restarts while Zoom events stream in

const STREAM_EVENTS = Number(process.env.HOST_STREAM_EVENTS || 24);
const STREAM_INTERVAL_MS = Number(process.env.HOST_STREAM_INTERVAL_MS || 300);
/** The event after which the disruption starts (a quarter into the stream). */
const DISRUPT_AFTER = Math.max(1, Math.floor(STREAM_EVENTS / 4));
/** How long pushed events may take to come through after the stream (outbox backoff 1 → 300 s). */
const CATCHUP_TIMEOUT = Number(process.env.HOST_CATCHUP_TIMEOUT_MS || 180_000);
const RESTART_STOP_TIMEOUT = 120_000; // OpenClaw drains active work before it exits
const ALL_RESTART_SCENARIOS = ["sigterm", "host-restart", "sigkill-gateway", "sigkill-sidecar"];
const RESTART_SCENARIOS = (process.env.HOST_RESTART_SCENARIOS || ALL_RESTART_SCENARIOS.join(","))
  .split(",")
  .map((x) => x.trim())
  .filter(Boolean);

const restartCounts = [];
/** Which scenario groups run (HOST_SCENARIOS, comma-separated): extension, missing-key, content, restarts, dropin. */
const SCENARIO_GROUPS = new Set((process.env.HOST_SCENARIOS || "extension,missing-key,content,restarts,dropin").split(",").map((x) => x.trim()));

/** The zoom channel's start lines so far (fresh starts and in-process restarts). */
function channelStarts(proc) {
  return (proc.output.match(/zoom channel started/g) ?? []).length;
}

/**
 * One gateway with the extension (detached sidecar); per scenario, STREAM_EVENTS
 * `meeting.started` (one meeting each) pushed STREAM_INTERVAL_MS apart while the gateway or
 * the sidecar is disrupted. Counts per event the LLM requests and the Team Chat replies
 * that carry it.
 */
async function restartScenario(host, root, opts) {
  const scope = `${host} restarts`;
  const lab = makeLab(root, `${host}-restarts`);
  if (!fs.existsSync(HOSTS[host].entry)) return fail(scope, "gateway installed", `${HOSTS[host].entry} missing`);
  let gateway;
  try {
    const llm = await startFakeLlm(lab);
    const fz = await startFakeZoom(lab, "fake-zoom");
    const gatewayPort = await freePort();
    const sidecarPort = await freePort();
    await installExtension(lab, opts);
    writeConfig(host, lab, {
      gatewayPort,
      llmUrl: llm.url,
      channels: {
        zoom: {
          enabled: true,
          ...zoomAccount(fz, sidecarPort, {
            defaultTarget: ME,
            password: ZOOM_PASSWORD,
            dmPolicy: "allowlist",
            allowFrom: ["alice@example.com"],
          }),
        },
      },
      plugins: { slots: { memory: "none" }, entries: { zoom: { enabled: true } } },
      // Clawdbot's in-process restart (SIGUSR1) needs it.
      extra: host === "clawdbot" ? { commands: { restart: true } } : {},
    });
    let gen = 0;
    const ready = [["zoom channel started line", /zoom channel started/]];
    gateway = await startGateway(host, lab, gatewayPort, ready, `gateway-${gen}`);
    const connectedNow = async () => (await fz.stats())?.open_connections >= 1;
    await waitFor("the sidecar's Zoom WebSocket", connectedNow, { timeout: CHECK_TIMEOUT });

    const restartGateway = async (signal) => {
      const sidecar = sidecarState(lab);
      const t0 = Date.now();
      await stopProcess(gateway.proc, { spare: sidecar?.pid ? [sidecar.pid] : [], signal, timeout: RESTART_STOP_TIMEOUT });
      const down = Date.now();
      if (gateway.proc.exit?.signal === "SIGKILL" && signal !== "SIGKILL") log(`${scope}: the gateway needed SIGKILL after ${signal}`);
      gen += 1;
      gateway = await startGateway(host, lab, gatewayPort, ready, `gateway-${gen}`);
      return `stopped in ${secs(down - t0)}, ready again ${secs(Date.now() - down)} later`;
    };
    const disruptions = {
      sigterm: () => restartGateway("SIGTERM"),
      "sigkill-gateway": () => restartGateway("SIGKILL"),
      "host-restart": async () => {
        const proc = gateway.proc;
        const before = channelStarts(proc);
        const t0 = Date.now();
        process.kill(proc.pid, host === "clawdbot" ? "SIGUSR1" : "SIGUSR2");
        const how = host === "clawdbot" ? "SIGUSR1 (in-process restart)" : "SIGUSR2 (gateway restart: drain, then restart)";
        const outcome = await waitFor(
          "the gateway's own restart",
          () => (proc.exit ? "exited" : channelStarts(proc) > before ? "restarted" : false),
          { timeout: RESTART_STOP_TIMEOUT },
        );
        if (outcome === "exited") {
          gen += 1;
          gateway = await startGateway(host, lab, gatewayPort, ready, `gateway-${gen}`);
          return `${how}: the process exited (${JSON.stringify(proc.exit)}) after ${secs(Date.now() - t0)}; started again`;
        }
        return `${how}: channel restarted in-process after ${secs(Date.now() - t0)}`;
      },
      "sigkill-sidecar": async () => {
        // Kill between two pushes, not in the same millisecond as one: Zoom's WebSocket is
        // at-most-once with no ack, so a frame still in the socket buffer at a SIGKILL is
        // gone (docs/reliability.md). What this measures is that nothing the sidecar had
        // taken in is lost.
        await sleep(STREAM_INTERVAL_MS / 2);
        const pid = sidecarState(lab)?.pid;
        if (!pid || !alive(pid)) throw new Error(`no sidecar pid in ${path.join(lab.state, "zoom")}`);
        const t0 = Date.now();
        process.kill(pid, "SIGKILL");
        await waitFor("a new sidecar pid", () => {
          const next = sidecarState(lab)?.pid;
          return next && next !== pid && alive(next);
        }, { timeout: 60_000 });
        await waitFor("the new sidecar's Zoom WebSocket", connectedNow, { timeout: 60_000 });
        return `sidecar pid ${pid} killed; a new one connected ${secs(Date.now() - t0)} later`;
      },
    };

    for (const name of RESTART_SCENARIOS) {
      const disrupt = disruptions[name];
      if (!disrupt) {
        fail(scope, `scenario ${name}`, `unknown scenario (known: ${ALL_RESTART_SCENARIOS.join(", ")})`);
        continue;
      }
      await waitFor("the sidecar's Zoom WebSocket", connectedNow, { timeout: 60_000 });
      const llmSince = await llm.next();
      const chatFrom = (await fz.teamChat()).length;
      const events = [];
      let disruption;
      const t0 = Date.now();
      for (let i = 1; i <= STREAM_EVENTS; i++) {
        const marker = `zr-${name}-${String(i).padStart(2, "0")}`;
        const meetingId = String(87_000_000_000 + ALL_RESTART_SCENARIOS.indexOf(name) * 1000 + i);
        let pushed = true;
        let error;
        try {
          await fz.push(meetingStarted(meetingId, `Stream ${marker}`));
        } catch (e) {
          pushed = false;
          error = e.message;
        }
        events.push({ marker, pushed, error, at: Date.now() - t0, during: Boolean(disruption && !disruption.settled) });
        if (i === DISRUPT_AFTER) {
          disruption = { settled: false };
          disruption.promise = disrupt().then(
            (detail) => Object.assign(disruption, { settled: true, detail }),
            (e) => Object.assign(disruption, { settled: true, error: e }),
          );
        }
        await sleep(STREAM_INTERVAL_MS);
      }
      await disruption.promise;
      const pushed = events.filter((e) => e.pushed);
      // Wait until every pushed event has a reply (or the catch-up budget is spent), then a
      // quiet window for late duplicates.
      const count = async () => {
        const reqs = await llm.requests(llmSince);
        const sends = (await fz.teamChat()).slice(chatFrom);
        for (const e of events) {
          // A turn's own text (the last user message) names the event's meeting; every event
          // has its own meeting. Whole bodies would also match other sessions' turns that list
          // system events (OpenClaw's heartbeat turn).
          e.llm = reqs.filter((r) => String(r.text ?? "").includes(e.marker)).length;
          e.replies = sends.filter((x) => String(x.body?.message ?? "").includes(e.marker)).length;
        }
        return pushed.every((e) => e.replies >= 1);
      };
      const caughtUp = await waitFor("a reply for every pushed event", count, { timeout: CATCHUP_TIMEOUT, interval: 500 }).then(
        () => true,
        () => false,
      );
      await sleep(QUIET_WINDOW);
      await count();
      const lost = pushed.filter((e) => e.replies === 0);
      const doubled = pushed.filter((e) => e.replies > 1);
      const reruns = pushed.filter((e) => e.llm > 1);
      const c = {
        host,
        scenario: name,
        events: events.length,
        pushed: pushed.length,
        notPushed: events.length - pushed.length,
        replied: pushed.filter((e) => e.replies >= 1).length,
        pushedDuringDisruption: pushed.filter((e) => e.during).length,
        repliedDuringDisruption: pushed.filter((e) => e.during && e.replies >= 1).length,
        lost: lost.length,
        doubleReplies: doubled.length,
        reruns: reruns.length,
        extraLlmRequests: pushed.reduce((n, e) => n + Math.max(0, e.llm - 1), 0),
        catchUpS: Number(((Date.now() - t0) / 1000).toFixed(1)),
        disruption: disruption.error ? `failed: ${disruption.error.message}` : disruption.detail,
      };
      restartCounts.push(c);
      log(`${scope} ${name}: ${JSON.stringify(c)}`);
      await check(scope, `${name}: 0 lost, no reply twice (${c.pushed}/${c.events} pushed while connected)`, () => {
        if (disruption.error) throw disruption.error;
        if (!caughtUp && lost.length === 0) throw new Error("catch-up wait failed");
        const problems = [];
        if (lost.length) problems.push(`lost: ${lost.map((e) => `${e.marker} (llm ${e.llm})`).join(", ")}`);
        if (doubled.length) problems.push(`replied twice: ${doubled.map((e) => `${e.marker} ×${e.replies}`).join(", ")}`);
        if (pushed.length < events.length - 2 && name !== "sigkill-sidecar") {
          problems.push(`only ${pushed.length}/${events.length} events reached a connected sidecar: ${events.filter((e) => !e.pushed).map((e) => e.marker).join(", ")}`);
        }
        if (problems.length) throw new Error(problems.join("\n"));
        return `${c.replied}/${c.pushed} replied, ${c.reruns} re-run(s), ${c.disruption}`;
      });
    }
  } finally {
    if (gateway) await stopProcess(gateway.proc, { spare: [sidecarState(lab)?.pid].filter(Boolean) });
    await stopSidecar(lab);
    await stopAll();
  }
}

/**
 * An HTTP forwarder on 127.0.0.1 that opens every upstream connection from 127.0.0.2, so the
 * gateway sees a source address outside its 127.0.0.1 / ::1 loopback bypass while all traffic
 * stays on the loopback range. Records each answer's status (paths without their query).
 */
async function startNonLocalForwarder(targetPort, sourceAddress = "127.0.0.2") {
  const answers = [];
  const server = nodeHttp.createServer((req, res) => {
    const upstream = nodeHttp.request(
      { host: "127.0.0.1", port: targetPort, localAddress: sourceAddress, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        answers.push({ path: req.url.split("?")[0], status: up.statusCode, at: Date.now() });
        res.writeHead(up.statusCode, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("error", (e) => {
      answers.push({ path: req.url.split("?")[0], status: 502, error: e.message, at: Date.now() });
      res.writeHead(502);
      res.end(e.message);
    });
    req.pipe(upstream);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: server.address().port, answers, close: () => new Promise((r) => server.close(r)) };
}

async function dropInScenario(root) {
  const host = "clawdbot";
  const scope = "clawdbot drop-in (stock bluebubbles)";
  const lab = makeLab(root, "clawdbot-dropin");
  if (!fs.existsSync(HOSTS[host].entry)) return fail(scope, "gateway installed", `${HOSTS[host].entry} missing`);
  let gateway;
  let forwarder;
  try {
    const llm = await startFakeLlm(lab);
    const fz = await startFakeZoom(lab, "fake-zoom-2");
    const gatewayPort = await freePort();
    const shimPort = await freePort();
    // Webhooks go through a forwarder whose upstream connections come from 127.0.0.2.
    forwarder = await startNonLocalForwarder(gatewayPort);
    const shimUrl = `http://127.0.0.1:${shimPort}`;
    const account = {
      accountId: "default",
      ...zoomAccount(fz, shimPort, { defaultTarget: ME, password: BB_PASSWORD }),
      webhookUrl: `http://127.0.0.1:${forwarder.port}/bluebubbles-webhook?password=${BB_PASSWORD}`,
      database: path.join(lab.dir, "sidecar.sqlite"),
    };
    const sidecar = startProcess(lab, "sidecar", MOLTBOT_ZOOM_BIN, ["run"], {
      env: { ...baseEnv(), MOLTBOT_ZOOM_ACCOUNT_JSON: JSON.stringify(account), RUST_LOG: process.env.RUST_LOG ?? "info" },
    });
    const shimUp = await check(scope, "sidecar (moltbot-zoom run, env config) serves the BlueBubbles REST shim", async () => {
      const r = await waitFor(
        "GET /api/v1/ping at the shim",
        async () => {
          if (sidecar.exit) throw Object.assign(new Error(`sidecar exited ${JSON.stringify(sidecar.exit)}`), { fatal: true });
          return (await http("GET", `${shimUrl}/api/v1/ping?password=${BB_PASSWORD}`, undefined, 2000)).status === 200;
        },
        { timeout: CHECK_TIMEOUT },
      ).catch((e) => {
        throw new Error(`${e.message}\n--- sidecar output tail ---\n${tail(sidecar.output)}`);
      });
      return r && shimUrl;
    });
    if (!shimUp) return;

    writeConfig(host, lab, {
      gatewayPort,
      llmUrl: llm.url,
      channels: {
        bluebubbles: {
          enabled: true,
          serverUrl: shimUrl,
          password: BB_PASSWORD,
          webhookPath: "/bluebubbles-webhook",
          dmPolicy: "open",
          allowFrom: ["*"],
          groupPolicy: "open",
        },
      },
      plugins: { slots: { memory: "none" }, entries: { bluebubbles: { enabled: true } } },
    });
    const booted = await check(scope, "gateway starts with the stock bluebubbles channel against the shim", async () => {
      gateway = await startGateway(host, lab, gatewayPort, [["BlueBubbles webhook listening line", /BlueBubbles webhook listening on \/bluebubbles-webhook/]]);
      return `HTTP ${secs(gateway.httpReady)}, channel ${secs(gateway.channelReady)}`;
    });
    if (!booted) return;

    const connected = await check(scope, "sidecar connects to the fake Zoom WebSocket", async () => {
      await waitFor("an open WS connection at fake Zoom", async () => (await fz.stats())?.open_connections >= 1);
    });
    if (!connected) return;
    // Controls on the same path: an own message (ignored if accepted), from 127.0.0.2.
    const own = (guid) => ({
      type: "new-message",
      data: { guid, text: "control", isFromMe: true, dateCreated: Date.now(), handle: { address: "control@example.com" }, chats: [{ guid: "iMessage;-;control@example.com" }] },
    });
    const via = (query) => `http://127.0.0.1:${forwarder.port}/bluebubbles-webhook?${query}`;
    await check(scope, "from 127.0.0.2 (outside the receiver's loopback bypass): wrong password 401, ?password= alone 2xx", async () => {
      const wrong = await http("POST", via(`password=wrong-${BB_PASSWORD}`), own("control-1"));
      if (wrong.status !== 401) throw new Error(`wrong password: expected 401, got ${wrong.status} ${wrong.text}`);
      const bearer = await fetch(via(`password=${BB_PASSWORD}`), {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${BB_PASSWORD}` },
        body: JSON.stringify(own("control-2")),
      });
      const right = await http("POST", via(`password=${BB_PASSWORD}`), own("control-3"));
      if (right.status < 200 || right.status > 299) throw new Error(`?password= alone: expected 2xx, got ${right.status} ${right.text}`);
      forwarder.answers.length = 0;
      return `wrong 401, ?password= ${right.status}, ?password= plus "Authorization: Bearer" ${bearer.status}`;
    });
    const topic = "Drop-in Standup";
    const meetingId = "86600000001";
    let started;
    await check(scope, "meeting.started reaches the agent through the stock BlueBubbles channel", async () => {
      const since = await llm.next();
      const pushedAt = await fz.push(meetingStarted(meetingId, topic));
      const req = await waitLlm(llm, since, [topic, meetingId], `"${topic}" and ${meetingId}`);
      started = { pushedAt, req };
      metrics.push({ scope, what: "meeting.started: Zoom frame → LLM request", value: secs(req.at - pushedAt) });
      return `${secs(req.at - pushedAt)} frame → LLM`;
    });
    await check(scope, "the reply reaches Team Chat at the default target", async () => {
      if (!started) throw new Error("no agent turn (previous check failed)");
      const sent = await waitTeamChat(fz, 0, (s) => chatTo(ME)(s) && String(s.body.message).includes("ACK:"), `to ${ME}`);
      metrics.push({ scope, what: "meeting.started: LLM reply → Team Chat send", value: secs(sent.at_ms - started.req.doneAt) });
      return `${secs(sent.at_ms - started.req.doneAt)} LLM reply → Team Chat`;
    });
    await check(scope, "every webhook delivery from 127.0.0.2 (no loopback bypass) answered 2xx", () => {
      const deliveries = forwarder.answers.filter((a) => a.path === "/bluebubbles-webhook");
      if (!deliveries.length) throw new Error("no webhook went through the 127.0.0.2 forwarder");
      const bad = deliveries.filter((a) => a.status < 200 || a.status > 299);
      if (bad.length) throw new Error(`${bad.length}/${deliveries.length} deliveries refused: ${[...new Set(bad.map((a) => a.status))].join(", ")} (the sidecar's webhook authentication is not one the receiver accepts)`);
      return `${deliveries.length} deliveries, all 2xx`;
    });
    const rss = rssReport(gateway);
    metrics.push({ scope, what: "RSS gateway (+ descendants)", value: `${rss.gatewayMb} MB` });
    metrics.push({ scope, what: "RSS sidecar", value: `${Math.round(rssKb(sidecar.pid) / 1024)} MB` });
  } finally {
    await forwarder?.close();
    await stopAll();
  }
}

// ---------------------------------------------------------------------------------------------

/** What content.mjs uses of this harness. */
const CONTENT_HELPERS = {
  HOSTS, ME, ZOOM_PASSWORD, zoomAccount,
  check, fail, secs, http, freePort, waitFor, waitLlm, waitTeamChat, chatTo, zoomEvent, dmPosted,
  makeLab, startFakeLlm, startFakeZoom, installExtension, writeConfig, startGateway,
  stopProcess, stopSidecar, stopAll, sidecarState,
};

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const major = Number(process.versions.node.split(".")[0]);
  if (major < 24) log(`warning: running on Node ${process.versions.node}; the gateways need Node 24 (use tests/host/run.sh)`);
  fs.mkdirSync(path.join(CACHE, "tmp"), { recursive: true });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "moltbot-zoom-host-"));
  log(`lab ${root}`);
  log(`moltbot-zoom ${MOLTBOT_ZOOM_BIN}, fake-zoom ${FAKE_ZOOM_BIN}, cache ${CACHE}`);
  const hosts = opts.host === "all" ? ["clawdbot", "openclaw"] : [opts.host];
  let interrupted = false;
  const onSignal = (sig) => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: stopping children`);
    stopAll()
      .then(() => Promise.all(labs.map(stopSidecar)))
      .finally(() => {
        log(`lab kept at ${root}`);
        process.exit(130);
      });
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  for (const [bin, name] of [
    [MOLTBOT_ZOOM_BIN, "moltbot-zoom"],
    [FAKE_ZOOM_BIN, "fake-zoom"],
  ]) {
    if (!fs.existsSync(bin)) fail("setup", `${name} binary present`, `${bin} not found (build it: cargo build --release -p moltbot-zoom -p fake-zoom)`);
  }
  if (!results.some((r) => !r.ok)) {
    for (const host of hosts) {
      if (SCENARIO_GROUPS.has("extension")) {
        log(`=== ${host} ${HOSTS[host].version}: zoom extension ===`);
        try {
          await extensionScenario(host, root, opts);
        } catch (e) {
          fail(host, "scenario ran to completion", e.stack ?? e.message);
        }
      }
      if (SCENARIO_GROUPS.has("missing-key")) {
        log(`=== ${host} ${HOSTS[host].version}: empty state dir, ${MISSING_KEY} missing ===`);
        try {
          await unconfiguredScenario(host, root, opts);
        } catch (e) {
          fail(`${host} missing key`, "scenario ran to completion", e.stack ?? e.message);
        }
      }
      if (SCENARIO_GROUPS.has("content")) {
        log(`=== ${host} ${HOSTS[host].version}: meeting summary and transcript, an image, reactions and edits ===`);
        try {
          await contentScenario(host, root, opts, CONTENT_HELPERS);
        } catch (e) {
          fail(`${host} content`, "scenario ran to completion", e.stack ?? e.message);
        }
      }
      if (SCENARIO_GROUPS.has("restarts") && RESTART_SCENARIOS.length && STREAM_EVENTS > 0) {
        log(`=== ${host} ${HOSTS[host].version}: ${STREAM_EVENTS} events streamed through ${RESTART_SCENARIOS.join(", ")} ===`);
        try {
          await restartScenario(host, root, opts);
        } catch (e) {
          fail(`${host} restarts`, "scenario ran to completion", e.stack ?? e.message);
        }
      }
      if (host === "clawdbot" && SCENARIO_GROUPS.has("dropin")) {
        log(`=== clawdbot ${HOSTS.clawdbot.version}: drop-in mode (stock bluebubbles + moltbot-zoom run) ===`);
        try {
          await dropInScenario(root);
        } catch (e) {
          fail("clawdbot drop-in", "scenario ran to completion", e.stack ?? e.message);
        }
      }
    }
  }
  await stopAll();
  if (registry) await stopProcess(registry.proc);

  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  console.log("\n=== summary ===");
  for (const r of results) console.log(`${r.ok ? "PASS" : "FAIL"}  ${r.scope}: ${r.name}`);
  if (metrics.length) {
    console.log("\n--- measurements ---");
    for (const m of metrics) console.log(`${m.scope}: ${m.what}: ${m.value}`);
  }
  if (restartCounts.length) {
    console.log(`\n--- restart counts (${STREAM_EVENTS} meeting.started per scenario, ${STREAM_INTERVAL_MS} ms apart) ---`);
    console.log("host      scenario         pushed  replied  lost  2x-reply  re-runs  during-disruption(replied/pushed)  done-after  disruption");
    for (const c of restartCounts) {
      console.log(
        `${c.host.padEnd(9)} ${c.scenario.padEnd(16)} ${`${c.pushed}/${c.events}`.padStart(6)}  ${String(c.replied).padStart(7)}  ${String(c.lost).padStart(4)}  ${String(c.doubleReplies).padStart(8)}  ${String(c.reruns).padStart(7)}  ${`${c.repliedDuringDisruption}/${c.pushedDuringDisruption}`.padStart(33)}  ${`${c.catchUpS} s`.padStart(10)}  ${c.disruption}`,
      );
    }
  }
  console.log(`\ntotal time ${secs(Date.now() - T0)}`);
  if (failed || opts.keep) console.log(`lab kept at ${root} (logs in */logs/)`);
  else fs.rmSync(root, { recursive: true, force: true });
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

main().catch(async (e) => {
  console.error(e.stack ?? e.message);
  await stopAll();
  console.log(`0 passed, 1 failed`);
  process.exit(1);
});

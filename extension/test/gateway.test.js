import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { createZoomPlugin, pidAlive } from "../index.js";
import { PASSWORD, baseConfig, fakeApi, fakeRuntime, startSidecar, waitFor } from "./helpers.js";

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "fake-sidecar.mjs");

let sidecar;
before(async () => {
  sidecar = await startSidecar();
});
after(() => sidecar.close());

function records(file) {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** Running (a zombie awaiting its reaper is not). */
const alive = (pid) => pidAlive(pid);

const started = [];
const aborts = [];
after(() => {
  // a failed test may leave its supervisor running: stop them all, then the processes
  for (const abort of aborts) abort.abort();
  // detached sidecars outlive their startAccount by design: clean up what the tests left
  for (const pid of started) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
});

async function freePort() {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts an account against the fake sidecar script; `env` goes to the child. `stateDir`
 * and `out` may be shared with an earlier start (the same gateway state after a restart).
 */
function start({ zoom = {}, env = {}, options = {}, source, stateDir, out, cfg: given } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "zoom-gw-"));
  const records = out ?? join(dir, "records.jsonl");
  const spawns = [];
  const plugin = createZoomPlugin({
    backoff: { initialMs: 20, maxMs: 80, resetAfterMs: 60_000 },
    killGraceMs: 300,
    healthIntervalMs: 20,
    watchIntervalMs: 20,
    ...options,
    spawn: (command, args, opts) => {
      spawns.push({ command, args, opts });
      const child = spawn(command, args, { ...opts, env: { ...opts.env, FAKE_SIDECAR_OUT: records, ...env } });
      if (child.pid) started.push(child.pid);
      return child;
    },
  });
  const cfg = given ?? baseConfig({ sidecarPath: FIXTURE, ...zoom });
  const { runtime } = fakeRuntime({ stateDir });
  let live = cfg;
  runtime.config = { current: () => live };
  const fake = fakeApi({ config: cfg, source, runtime });
  plugin.register(fake.api);
  const channel = fake.channels[0];
  const logs = [];
  const statuses = [];
  let current = {};
  const abort = new AbortController();
  aborts.push(abort);
  let settled = false;
  const task = channel.gateway
    .startAccount({
      cfg,
      accountId: "default",
      account: channel.config.resolveAccount(cfg, "default"),
      abortSignal: abort.signal,
      log: {
        info: (m) => logs.push(["info", m]),
        warn: (m) => logs.push(["warn", m]),
        error: (m) => logs.push(["error", m]),
      },
      getStatus: () => current,
      setStatus: (s) => {
        current = s;
        statuses.push(s);
      },
    })
    .finally(() => {
      settled = true;
    });
  const stateDirPath = runtime.state.resolveStateDir();
  return {
    out: records,
    spawns,
    logs,
    statuses,
    abort,
    task,
    cfg,
    isSettled: () => settled,
    fake,
    dir,
    stateDir: stateDirPath,
    stateFile: join(stateDirPath, "zoom", "sidecar-default.json"),
    setLiveConfig: (c) => {
      live = c;
    },
  };
}

const firstStart = (t) => waitFor(() => records(t.out).find((r) => r.start), 5000, "spawn");

test("spawns the sidecar detached (own session), log file tailed into the gateway log, state file written", async () => {
  const port = await freePort();
  const t = start({ zoom: { listen: `127.0.0.1:${port}` } });
  const first = await firstStart(t);
  assert.deepEqual(first.args, ["run"]);
  assert.equal(first.session, first.pid, "the sidecar leads its own session");
  assert.equal(first.pgrp, first.pid, "and its own process group");
  assert.equal(t.spawns[0].command, FIXTURE);
  assert.equal(t.spawns[0].opts.detached, true);
  assert.equal(first.account.accountId, "default");
  assert.equal(first.account.webhookUrl, "http://127.0.0.1:19999/zoom-webhook");
  assert.equal(first.account.stateDir, t.stateDir);
  assert.equal(first.account.password, PASSWORD);
  assert.equal(first.account.clientSecret, "csecret");
  assert.equal("accounts" in first.account, false);
  await waitFor(() => t.logs.some(([l, m]) => l === "info" && m.startsWith("[default] zoom channel started")), 5000, "start line");
  await waitFor(() => t.logs.some(([l, m]) => l === "warn" && m.includes("sidecar: WARN moltbot_zoom: something odd")), 5000, "stderr line");
  await waitFor(() => t.logs.some(([l, m]) => l === "info" && m.includes("sidecar: INFO moltbot_zoom: sidecar listening")), 5000, "stdout line");
  const state = JSON.parse(readFileSync(t.stateFile, "utf8"));
  assert.equal(state.pid, first.pid);
  assert.equal(state.version, "moltbot-zoom 0.0.0-fake (" + state.version.split(" (")[1]);
  assert.match(state.configHash, /^[0-9a-f]{64}$/);
  assert.equal(JSON.stringify(state).includes(PASSWORD), false, "no secret in the state file");
  assert.ok(readFileSync(join(t.stateDir, "zoom", "sidecar-default.log"), "utf8").includes("sidecar listening"));
  await waitFor(() => t.statuses.some((s) => s.connected === true), 5000, "connected status");
  assert.equal(t.statuses[0].running, true);

  // the gateway stops (channel still configured): the sidecar keeps running
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(t.isSettled(), false);
  t.abort.abort();
  await t.task;
  assert.equal(alive(first.pid), true, "sidecar outlives the gateway");
  assert.equal(records(t.out).some((r) => r.term), false, "no SIGTERM sent");
  assert.ok(t.logs.some(([, m]) => m.includes(`sidecar pid ${first.pid} keeps running`)));
  assert.equal(t.statuses.at(-1).running, false);
  process.kill(first.pid, "SIGKILL");
});

test("the next start attaches to the running sidecar of the same version and configuration", async () => {
  const port = await freePort();
  const zoom = { listen: `127.0.0.1:${port}` };
  const a = start({ zoom });
  const first = await firstStart(a);
  await waitFor(() => a.statuses.some((s) => s.connected === true), 5000, "connected");
  a.abort.abort();
  await a.task;

  const b = start({ zoom, stateDir: a.stateDir, out: a.out });
  await waitFor(() => b.logs.some(([, m]) => m.includes(`attached to the running sidecar pid ${first.pid}`)), 5000, "attach");
  assert.equal(b.spawns.length, 0);
  assert.equal(records(a.out).filter((r) => r.start).length, 1);
  await waitFor(() => b.statuses.some((s) => s.connected === true), 5000, "connected");

  // it dies (SIGKILL): the supervisor notices and starts a new one
  process.kill(first.pid, "SIGKILL");
  await waitFor(() => b.spawns.length === 1, 5000, "respawn");
  await waitFor(() => records(a.out).filter((r) => r.start).length === 2, 5000, "second start");
  const second = records(a.out).filter((r) => r.start)[1];
  assert.ok(b.logs.some(([l, m]) => l === "warn" && m.includes(`sidecar exited (pid ${first.pid}); restarting in`)));

  // the channel is withdrawn (disabled in the live config): the sidecar is stopped
  b.setLiveConfig(baseConfig({ sidecarPath: FIXTURE, ...zoom, enabled: false }));
  b.abort.abort();
  await b.task;
  assert.equal(alive(second.pid), false);
  assert.ok(records(a.out).some((r) => r.term && r.pid === second.pid), "SIGTERM delivered");
  assert.equal(existsSync(b.stateFile), false, "state file removed");
});

test("a changed configuration or version replaces the running sidecar", async () => {
  const port = await freePort();
  const a = start({ zoom: { listen: `127.0.0.1:${port}` } });
  const first = await firstStart(a);
  a.abort.abort();
  await a.task;

  const b = start({ zoom: { listen: `127.0.0.1:${port}`, allowFrom: ["bob@corp.example"] }, stateDir: a.stateDir, out: a.out });
  await waitFor(() => b.spawns.length === 1, 5000, "replacement");
  assert.ok(b.logs.some(([, m]) => m.includes(`replacing the sidecar pid ${first.pid}: its configuration changed`)));
  assert.equal(alive(first.pid), false);
  await waitFor(() => records(a.out).filter((r) => r.start).length === 2, 5000, "second start");
  const second = records(a.out).filter((r) => r.start)[1];
  assert.deepEqual(second.account.allowFrom, ["bob@corp.example"]);
  b.abort.abort();
  await b.task;

  const c = start({
    zoom: { listen: `127.0.0.1:${port}`, allowFrom: ["bob@corp.example"] },
    stateDir: a.stateDir,
    out: a.out,
    env: { FAKE_SIDECAR_VERSION: "9.9.9" },
    options: { sidecarVersion: () => "moltbot-zoom 9.9.9" },
  });
  await waitFor(() => c.spawns.length === 1, 5000, "replacement");
  assert.ok(c.logs.some(([, m]) => m.includes(`replacing the sidecar pid ${second.pid}: its version changed`)));
  await waitFor(() => records(a.out).filter((r) => r.start).length === 3, 5000, "third start");
  c.setLiveConfig({ ...c.cfg, plugins: { entries: { zoom: { enabled: false } } } });
  c.abort.abort();
  await c.task;
  assert.equal(records(a.out).filter((r) => r.start).length, 3);
  for (const r of records(a.out).filter((x) => x.start)) assert.equal(alive(r.pid), false, `pid ${r.pid} stopped`);
});

test("a recorded sidecar that does not answer /status to our password is replaced", async () => {
  const port = await freePort();
  const a = start({ zoom: { listen: `127.0.0.1:${port}` } });
  const first = await firstStart(a);
  a.abort.abort();
  await a.task;
  const state = JSON.parse(readFileSync(a.stateFile, "utf8"));
  // same version and config hash, but the listener answers 401 (another password)
  const b = start({ zoom: { listen: `127.0.0.1:${port}` }, stateDir: a.stateDir, out: a.out, options: { fetch: async () => new Response("no", { status: 401 }) } });
  await waitFor(() => b.spawns.length === 1, 5000, "replacement");
  assert.ok(b.logs.some(([, m]) => m.includes(`replacing the sidecar pid ${state.pid}: it does not answer /status`)));
  assert.equal(alive(first.pid), false);
  b.setLiveConfig({ channels: {} });
  b.abort.abort();
  await b.task;
});

test("restarts after exit with exponential backoff capped at maxMs", async () => {
  const t = start({ env: { FAKE_SIDECAR_EXIT_AFTER_MS: "10" } });
  await waitFor(() => t.spawns.length >= 5, 10_000, "five spawns");
  t.abort.abort();
  await t.task;
  const delays = t.logs
    .map(([, m]) => /restarting in (\d+) ms/.exec(m)?.[1])
    .filter(Boolean)
    .map(Number);
  assert.deepEqual(delays.slice(0, 4), [20, 40, 80, 80]);
  assert.match(t.statuses.find((s) => s.lastError)?.lastError ?? "", /sidecar exited/);
  assert.equal(t.logs.filter(([, m]) => m.includes("zoom channel started")).length, 1);
});

test("backoff resets after the sidecar stayed up long enough", async () => {
  const t = start({ env: { FAKE_SIDECAR_EXIT_AFTER_MS: "10" }, options: { backoff: { initialMs: 20, maxMs: 80, resetAfterMs: 0 } } });
  await waitFor(() => t.spawns.length >= 4, 10_000, "four spawns");
  t.abort.abort();
  await t.task;
  const delays = t.logs.map(([, m]) => /restarting in (\d+) ms/.exec(m)?.[1]).filter(Boolean).map(Number);
  assert.deepEqual(delays.slice(0, 3), [20, 20, 20]);
});

test("a sidecar ignoring SIGTERM is killed after the grace period when the channel is withdrawn", async () => {
  const t = start({ env: { FAKE_SIDECAR_IGNORE_TERM: "1" } });
  const first = await firstStart(t);
  await waitFor(() => t.logs.some(([, m]) => m.includes("zoom channel started")), 5000, "started");
  t.setLiveConfig(baseConfig({ sidecarPath: FIXTURE, enabled: false }));
  const abortedAt = Date.now();
  t.abort.abort();
  await t.task;
  assert.ok(Date.now() - abortedAt >= 250, "waited for the grace period");
  assert.ok(records(t.out).some((r) => r.term), "SIGTERM came first");
  assert.equal(alive(first.pid), false);
});

test("a missing binary is retried with backoff, not thrown", async () => {
  const t = start({ zoom: { sidecarPath: "/nonexistent/moltbot-zoom" } });
  await waitFor(() => t.spawns.length >= 2, 5000, "retry");
  t.abort.abort();
  await t.task;
  assert.ok(t.logs.some(([l, m]) => l === "warn" && m.includes("failed to start")));
});

test("sidecar path: sidecar.json next to index.js, else bin/moltbot-zoom", async () => {
  // No PATH fallback here: only the files next to index.js count.
  const options = { sidecarBinary: { env: { PATH: "" } } };
  const pkgDir = mkdtempSync(join(tmpdir(), "zoom-pkg-"));
  writeFileSync(join(pkgDir, "sidecar.json"), JSON.stringify({ path: FIXTURE }));
  const linked = start({ zoom: { sidecarPath: undefined }, source: join(pkgDir, "index.js"), options });
  await waitFor(() => linked.spawns.length >= 1, 5000, "spawn");
  linked.abort.abort();
  await linked.task;
  assert.equal(linked.spawns[0].command, FIXTURE);

  const copyDir = mkdtempSync(join(tmpdir(), "zoom-pkg-"));
  mkdirSync(join(copyDir, "bin"));
  copyFileSync(FIXTURE, join(copyDir, "bin", "moltbot-zoom"));
  chmodSync(join(copyDir, "bin", "moltbot-zoom"), 0o755);
  const copied = start({ zoom: { sidecarPath: undefined }, source: join(copyDir, "index.js"), options });
  await waitFor(() => copied.spawns.length >= 1, 5000, "spawn");
  copied.abort.abort();
  await copied.task;
  assert.equal(copied.spawns[0].command, join(copyDir, "bin", "moltbot-zoom"));
});

test("no sidecar binary anywhere: a clear error as lastError, looked up again, pending until abort", async () => {
  const emptyDir = mkdtempSync(join(tmpdir(), "zoom-pkg-"));
  const t = start({
    zoom: { sidecarPath: undefined },
    source: join(emptyDir, "index.js"),
    options: { sidecarBinary: { env: { PATH: "" }, platform: "linux", arch: "x64" } },
  });
  await waitFor(() => t.logs.filter(([l, m]) => l === "error" && m.includes("no moltbot-zoom sidecar binary")).length >= 2, 5000, "two lookups");
  assert.equal(t.spawns.length, 0);
  const error = t.statuses.map((s) => s.lastError).find((e) => e?.includes("linux-x64"));
  assert.match(error, /@moltbot-zoom\/sidecar-linux-x64 is not installed/);
  assert.match(error, /plugins install @moltbot-zoom\/zoom/);
  assert.match(error, /sidecarPath/);
  assert.equal(t.isSettled(), false);
  t.abort.abort();
  await t.task;
  assert.equal(t.statuses.at(-1).running, false);
});

test("attach mode: no spawn, pings the sidecar, pending until abort", async () => {
  sidecar.requests.length = 0;
  const t = start({ zoom: { sidecarUrl: sidecar.url } });
  await waitFor(() => sidecar.requests.filter((r) => r.path === "/api/v1/ping").length >= 2, 5000, "pings");
  assert.equal(t.spawns.length, 0);
  assert.equal(sidecar.requests[0].headers.authorization, `Bearer ${PASSWORD}`);
  assert.ok(t.logs.some(([l, m]) => l === "info" && m.startsWith("[default] zoom channel started")));
  assert.ok(t.statuses.some((s) => s.connected === true));
  assert.equal(t.isSettled(), false);
  t.abort.abort();
  await t.task;
  assert.equal(t.statuses.at(-1).running, false);
});

test("attach mode reports an unreachable sidecar", async () => {
  const t = start({ zoom: { sidecarUrl: "http://127.0.0.1:9" } });
  await waitFor(() => t.statuses.some((s) => s.lastError), 5000, "error status");
  assert.match(t.statuses.find((s) => s.lastError).lastError, /unreachable/);
  assert.equal(t.statuses.find((s) => s.lastError).lastError.includes(PASSWORD), false);
  t.abort.abort();
  await t.task;
});

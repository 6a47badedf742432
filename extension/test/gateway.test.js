import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { createZoomPlugin } from "../index.js";
import { PASSWORD, baseConfig, fakeApi, startSidecar, waitFor } from "./helpers.js";

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

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts an account against the fake sidecar script; `env` goes to the child. */
function start({ zoom = {}, env = {}, options = {}, source } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "zoom-gw-"));
  const out = join(dir, "records.jsonl");
  const spawns = [];
  const plugin = createZoomPlugin({
    backoff: { initialMs: 20, maxMs: 80, resetAfterMs: 60_000 },
    killGraceMs: 300,
    healthIntervalMs: 20,
    ...options,
    spawn: (command, args, opts) => {
      spawns.push({ command, args, opts });
      return spawn(command, args, { ...opts, env: { ...opts.env, FAKE_SIDECAR_OUT: out, ...env } });
    },
  });
  const cfg = baseConfig({ sidecarPath: FIXTURE, ...zoom });
  const fake = fakeApi({ config: cfg, source });
  plugin.register(fake.api);
  const channel = fake.channels[0];
  const logs = [];
  const statuses = [];
  let current = {};
  const abort = new AbortController();
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
  return { out, spawns, logs, statuses, abort, task, isSettled: () => settled, fake, dir };
}

test("spawns the sidecar with run and the account JSON, logs the start line, pipes output", async () => {
  const t = start();
  const [first] = await waitFor(() => records(t.out).filter((r) => r.start).length && records(t.out), 5000, "spawn");
  assert.deepEqual(first.args, ["run"]);
  assert.equal(t.spawns[0].command, FIXTURE);
  assert.equal(first.account.accountId, "default");
  assert.equal(first.account.webhookUrl, "http://127.0.0.1:19999/zoom-webhook");
  assert.equal(first.account.stateDir, "/tmp/fake-state");
  assert.equal(first.account.password, PASSWORD);
  assert.equal(first.account.clientSecret, "csecret");
  assert.equal("accounts" in first.account, false);
  assert.ok(t.logs.some(([l, m]) => l === "info" && m.startsWith("[default] zoom channel started")));
  await waitFor(() => t.logs.some(([l, m]) => l === "warn" && m.includes("something odd")), 5000, "stderr line");
  await waitFor(() => t.logs.some(([l, m]) => l === "info" && m.includes("sidecar listening")), 5000, "stdout line");
  assert.equal(t.statuses[0].running, true);
  assert.equal(t.statuses[0].accountId, "default");

  // pending until abort
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(t.isSettled(), false);
  t.abort.abort();
  await t.task;
  const recs = records(t.out);
  assert.ok(recs.some((r) => r.term && r.pid === first.pid), "SIGTERM delivered");
  assert.equal(alive(first.pid), false);
  assert.equal(t.spawns.length, 1);
  assert.equal(t.statuses.at(-1).running, false);
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
  assert.ok(t.logs.some(([l, m]) => l === "warn" && m.includes("exited (code 3)")));
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

test("a sidecar ignoring SIGTERM is killed after the grace period", async () => {
  const t = start({ env: { FAKE_SIDECAR_IGNORE_TERM: "1" } });
  const [first] = await waitFor(() => records(t.out).filter((r) => r.start).length && records(t.out), 5000, "spawn");
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
  const pkgDir = mkdtempSync(join(tmpdir(), "zoom-pkg-"));
  writeFileSync(join(pkgDir, "sidecar.json"), JSON.stringify({ path: FIXTURE }));
  const linked = start({ zoom: { sidecarPath: undefined }, source: join(pkgDir, "index.js") });
  await waitFor(() => linked.spawns.length >= 1, 5000, "spawn");
  linked.abort.abort();
  await linked.task;
  assert.equal(linked.spawns[0].command, FIXTURE);

  const emptyDir = mkdtempSync(join(tmpdir(), "zoom-pkg-"));
  const copied = start({ zoom: { sidecarPath: undefined }, source: join(emptyDir, "index.js") });
  await waitFor(() => copied.spawns.length >= 1, 5000, "spawn");
  copied.abort.abort();
  await copied.task;
  assert.equal(copied.spawns[0].command, join(emptyDir, "bin", "moltbot-zoom"));
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

// The webhook answers 2xx only once the host holds the message durably; otherwise 503 +
// Retry-After so the sidecar's outbox retries. Duplicates are dropped by a dedup log in the
// state dir that survives a gateway restart.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { AcceptedLog, PendingContext, createZoomPlugin, staleStoreLockWait } from "../index.js";
import { PASSWORD, baseConfig, fakeApi, fakeReq, fakeRes, fakeRuntime, newMessage, startSidecar, tempStateDir, waitFor } from "./helpers.js";

let sidecar;
before(async () => {
  sidecar = await startSidecar();
});
after(() => sidecar.close());

const AUTH = { authorization: `Bearer ${PASSWORD}` };

/** A deferred promise. */
function gate() {
  let open;
  const promise = new Promise((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/**
 * A registered plugin on a given state dir (a second call with the same dir stands for the
 * gateway after a restart). `onDispatch(args)` plays the host's dispatch.
 */
function setup({ stateDir = tempStateDir(), onDispatch, zoom = {}, api = {}, options = {} } = {}) {
  const cfg = baseConfig({ sidecarUrl: sidecar.url, ...zoom });
  const { runtime, calls } = fakeRuntime({ stateDir, onDispatch });
  runtime.config = { current: () => cfg };
  const fake = fakeApi({ config: cfg, runtime });
  Object.assign(fake.api, api);
  createZoomPlugin({ holdMs: 300, ...options }).register(fake.api);
  function send(body, { headers = AUTH, url = "/zoom-webhook" } = {}) {
    const res = fakeRes();
    const done = fake.routes[0].handler(fakeReq({ url, headers, body }), res).then(() => res);
    return { res, done };
  }
  const post = (body, o) => send(body, o).done;
  return { cfg, calls, stateDir, fake, send, post, channel: fake.channels[0] };
}

/**
 * The plugin of a new gateway process on `t`'s state dir (the module state of the old one
 * dropped), dispatching as Clawdbot does.
 */
function restarted(t) {
  globalThis[Symbol.for("moltbot-zoom.state")]?.delete(t.stateDir);
  return setup({ stateDir: t.stateDir, onDispatch: (args) => clawdbotTurn(args) });
}

/** The host's dispatch as Clawdbot runs it: a run starts, the final reply is delivered, then it resolves. */
async function clawdbotTurn(args, { before: wait } = {}) {
  args.replyOptions.onAgentRunStart?.("run-1");
  if (wait) await wait;
  await args.dispatcherOptions.deliver({ text: `ACK: ${args.ctx.RawBody}` }, { kind: "final" });
  return { queuedFinal: true };
}

const meetingEvent = (guid, extra = {}) =>
  newMessage({
    guid,
    text: `meeting started ${guid}`,
    sender: "zoom",
    chatGuid: `zoom;+;meeting:${guid}`,
    zoom: { mode: "message", conversationKind: "group", eventType: "meeting.started" },
    ...extra,
  });

test("Clawdbot-style turn: 200 once the turn completes; the guid lands in the dedup log", async () => {
  const turn = gate();
  const t = setup({ onDispatch: (args) => clawdbotTurn(args, { before: turn.promise }), options: { holdMs: 5000 } });
  const { res, done } = t.send(meetingEvent("cb-1"));
  await waitFor(() => t.calls.dispatch.length === 1, 2000, "dispatch");
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(res.ended, false, "no answer while the turn runs");
  turn.open();
  await done;
  assert.equal(res.statusCode, 200);
  assert.deepEqual(
    readFileSync(join(t.stateDir, "zoom", "accepted.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l)),
    ["default\u0000cb-1"],
  );
  assert.equal(sidecar.requests.filter((r) => r.body?.message === "ACK: meeting started cb-1").length, 1);
});

test("a retry after a gateway restart is dropped by the persisted dedup log", async () => {
  const first = setup({ onDispatch: (args) => clawdbotTurn(args) });
  assert.equal((await first.post(meetingEvent("restart-1"))).statusCode, 200);
  const second = restarted(first);
  const res = await second.post(meetingEvent("restart-1"));
  assert.equal(res.statusCode, 200);
  assert.equal(res.body, "duplicate");
  assert.equal(second.calls.dispatch.length, 0);
});

test("a turn longer than the hold: 503 + Retry-After, the turn runs on; a redelivery waits for the same turn", async () => {
  const turn = gate();
  const t = setup({ onDispatch: (args) => clawdbotTurn(args, { before: turn.promise }), options: { holdMs: 1500 } });
  const first = await t.post(meetingEvent("slow-1"));
  assert.equal(first.statusCode, 503);
  assert.equal(first.headers["retry-after"], "2");
  assert.match(first.body, /still running/);
  const again = t.send(meetingEvent("slow-1"));
  await new Promise((r) => setTimeout(r, 30));
  turn.open();
  assert.equal((await again.done).statusCode, 200);
  assert.equal(t.calls.dispatch.length, 1, "one agent turn for both deliveries");
  const late = await t.post(meetingEvent("slow-1"));
  assert.equal(late.body, "duplicate");
  assert.equal(t.calls.dispatch.length, 1);
});

test("a failed dispatch answers 503; the retry gets a fresh MessageSid (host dedupe) and is accepted", async () => {
  let n = 0;
  const t = setup({
    onDispatch: (args) => {
      n += 1;
      if (n === 1) return Promise.reject(new Error("timeout acquiring session store lock"));
      return clawdbotTurn(args);
    },
  });
  const failed = await t.post(meetingEvent("fail-1"));
  assert.equal(failed.statusCode, 503);
  assert.match(failed.body, /session store lock/);
  assert.equal((await t.post(meetingEvent("fail-1"))).statusCode, 200);
  assert.deepEqual(
    t.calls.dispatch.map((d) => d.ctx.MessageSid),
    ["fail-1", "fail-1#2"],
  );
});

test("a reply the sidecar did not take (e.g. it was restarting): 503, the redelivery runs the turn again", async () => {
  let n = 0;
  const t = setup({
    onDispatch: async (args) => {
      n += 1;
      args.replyOptions.onAgentRunStart?.();
      const text = n === 1 ? "ACK: lost" : "ACK: again";
      const to = n === 1 ? "http://127.0.0.1:9" : undefined;
      try {
        if (to) t.cfg.channels.zoom.sidecarUrl = to;
        await args.dispatcherOptions.deliver({ text }, { kind: "final" });
      } catch (err) {
        args.dispatcherOptions.onError(err, { kind: "final" });
      } finally {
        t.cfg.channels.zoom.sidecarUrl = sidecar.url;
      }
      return { queuedFinal: true };
    },
  });
  const first = await t.post(meetingEvent("replyfail-1"));
  assert.equal(first.statusCode, 503);
  assert.match(first.body, /reply could not be sent/);
  assert.equal((await t.post(meetingEvent("replyfail-1"))).statusCode, 200);
  assert.equal(sidecar.requests.filter((r) => r.body?.message === "ACK: again").length, 1);
});

test("OpenClaw's restart notice for a turn it dropped: not posted, 503, the redelivery answers", async () => {
  let n = 0;
  const t = setup({
    onDispatch: async (args) => {
      n += 1;
      const text = n === 1 ? "⚠️ Gateway is restarting. Please wait a few seconds and try again." : "ACK: real";
      await args.dispatcherOptions.deliver({ text }, { kind: "final" });
      return { queuedFinal: true };
    },
  });
  const first = await t.post(meetingEvent("notice-1"));
  assert.equal(first.statusCode, 503);
  assert.match(first.body, /restart notice/);
  assert.equal(sidecar.requests.filter((r) => String(r.body?.message).includes("Gateway is restarting")).length, 0);
  assert.equal((await t.post(meetingEvent("notice-1"))).statusCode, 200);
  assert.equal(sidecar.requests.filter((r) => r.body?.message === "ACK: real").length, 1);
});

test("resolved without a run: 503 twice (a host still starting), then 200 and a warning (a command)", async () => {
  const t = setup({ onDispatch: async () => ({ queuedFinal: false }) });
  const first = await t.post(meetingEvent("norun-1"));
  assert.equal(first.statusCode, 503);
  assert.match(first.body, /started no agent run/);
  assert.ok(first.headers["retry-after"]);
  assert.equal((await t.post(meetingEvent("norun-1"))).statusCode, 503);
  assert.equal((await t.post(meetingEvent("norun-1"))).statusCode, 200);
  assert.equal(t.calls.dispatch.length, 3);
  assert.deepEqual(
    t.calls.dispatch.map((d) => d.ctx.MessageSid),
    ["norun-1", "norun-1#2", "norun-1#3"],
  );
  assert.ok(t.fake.logs.some(([l, m]) => l === "warn" && m.includes("norun-1 started no agent run yet")));
  // A later redelivery is a duplicate.
  assert.equal((await t.post(meetingEvent("norun-1"))).body, "duplicate");
  // A host that queued the message behind an active run has it: acknowledged at once.
  const deferred = setup({ onDispatch: async () => ({ deferredToActiveRun: "followup" }) });
  assert.equal((await deferred.post(meetingEvent("norun-2"))).statusCode, 200);
  assert.ok(deferred.fake.logs.some(([l, m]) => l === "warn" && m.includes("norun-2 started no agent run")));
});

test("no turnAdoptionLifecycle is passed (OpenClaw dropped adopted turns with it)", async () => {
  const t = setup({ onDispatch: (args) => clawdbotTurn(args) });
  assert.equal((await t.post(meetingEvent("nolife-1"))).statusCode, 200);
  assert.equal("turnAdoptionLifecycle" in t.calls.dispatch[0].replyOptions, false);
});

test("the final reply sent counts as accepted even before the dispatch resolves", async () => {
  const rest = gate();
  const t = setup({
    onDispatch: async (args) => {
      await args.dispatcherOptions.deliver({ text: "a block" }, { kind: "block" });
      await args.dispatcherOptions.deliver({ text: "the end" }, { kind: "final" });
      await rest.promise;
    },
    options: { holdMs: 2000 },
  });
  const res = await t.post(meetingEvent("final-1"));
  assert.equal(res.statusCode, 200);
  rest.open();
});

test("when the account stops: held and new webhooks get 503 at once", async () => {
  const turn = gate();
  const t = setup({ onDispatch: (args) => clawdbotTurn(args, { before: turn.promise }), options: { holdMs: 10_000 } });
  const abort = new AbortController();
  const task = t.channel.gateway.startAccount({
    cfg: t.cfg,
    accountId: "default",
    abortSignal: abort.signal,
    log: { info() {}, warn() {}, error() {} },
  });
  const held = t.send(meetingEvent("stop-1"));
  await waitFor(() => t.calls.dispatch.length === 1, 2000, "dispatch");
  const startedAt = Date.now();
  abort.abort();
  const res = await held.done;
  assert.ok(Date.now() - startedAt < 1000, "answered without waiting for the hold");
  assert.equal(res.statusCode, 503);
  assert.equal(res.headers["retry-after"], "5");
  assert.equal(res.headers.connection, "close", "no idle keep-alive socket holds the server's close");
  const fresh = await t.post(meetingEvent("stop-2"));
  assert.equal(fresh.statusCode, 503);
  assert.equal(fresh.headers.connection, "close");
  assert.equal(t.calls.dispatch.length, 1, "no new turn while stopping");
  const before = sidecar.requests.length;
  turn.open();
  await task;
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(sidecar.requests.length, before, "the turn's reply is left to the redelivery");
  assert.equal(existsSync(join(t.stateDir, "zoom", "accepted.jsonl")), false, "not acknowledged");
});

test("a session-store lock left by a dead gateway: 503 with Retry-After until Clawdbot would evict it", async () => {
  const stateDir = tempStateDir();
  const storePath = join(stateDir, "store-main.json");
  const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString();
  const written = Date.now();
  writeFileSync(`${storePath}.lock`, JSON.stringify({ pid: Number(dead), startedAt: written }));
  const t = setup({ stateDir, onDispatch: (args) => clawdbotTurn(args) });
  const res = await t.post(meetingEvent("lock-1"));
  assert.equal(res.statusCode, 503);
  // 30 s minus the lock's age, however slow this machine was since it was written
  const aged = Math.ceil((Date.now() - written) / 1000);
  const retryAfter = Number(res.headers["retry-after"]);
  assert.ok(retryAfter >= 29 - aged && retryAfter <= 30, `retry-after ${retryAfter}, lock aged ${aged} s`);
  assert.equal(t.calls.dispatch.length, 0);

  // older than 30 s: Clawdbot evicts it itself
  const old = (Date.now() - 31_000) / 1000;
  utimesSync(`${storePath}.lock`, old, old);
  assert.equal((await t.post(meetingEvent("lock-1"))).statusCode, 200);

  // held by a live process: a normal busy lock, the host waits for it
  writeFileSync(`${storePath}.lock`, JSON.stringify({ pid: process.ppid, startedAt: Date.now() }));
  assert.equal(staleStoreLockWait(storePath), 0);
});

test("dispatches of one session run one after the other; other sessions are not held back", async () => {
  const first = gate();
  const order = [];
  const t = setup({
    onDispatch: async (args) => {
      order.push(`start ${args.ctx.MessageSid}`);
      if (args.ctx.MessageSid === "ser-1") await first.promise;
      order.push(`end ${args.ctx.MessageSid}`);
      return clawdbotTurn(args);
    },
    options: { holdMs: 2000 },
  });
  const dm = (guid) => newMessage({ guid, text: guid });
  const a = t.send(dm("ser-1"));
  const b = t.send(dm("ser-2"));
  const other = t.send(meetingEvent("ser-3"));
  assert.equal((await other.done).statusCode, 200);
  first.open();
  assert.equal((await a.done).statusCode, 200);
  assert.equal((await b.done).statusCode, 200);
  const s1 = order.indexOf("end ser-1");
  assert.ok(order.indexOf("start ser-2") > s1, order.join(", "));
  assert.ok(order.indexOf("start ser-3") < s1, order.join(", "));
});

test("context events (no durable host queue): fsync'd to the state dir, re-queued after a restart, consumed by the next turn", async () => {
  const t = setup({ onDispatch: (args) => clawdbotTurn(args) });
  const joined = newMessage({
    guid: "ctx-1",
    text: "Bob joined",
    sender: "zoom",
    chatGuid: "zoom;+;meeting:77",
    zoom: { mode: "context", conversationKind: "group" },
  });
  assert.equal((await t.post(joined)).statusCode, 200);
  assert.equal((await t.post(joined)).body, "duplicate");
  assert.equal(t.calls.enqueueSystemEvent.length, 1);
  const pendingFile = join(t.stateDir, "zoom", "pending-context.json");
  const pending = JSON.parse(readFileSync(pendingFile, "utf8"));
  assert.deepEqual(
    pending.map((e) => [e.sessionKey, e.text, e.contextKey]),
    [["agent:main:zoom:group:zoom;+;meeting:77", "Zoom: Bob joined", "zoom:event:ctx-1"]],
  );

  // the gateway restarts before the meeting's next turn: startAccount re-queues it
  const after = restarted(t);
  const abort = new AbortController();
  const task = after.channel.gateway.startAccount({ cfg: after.cfg, accountId: "default", abortSignal: abort.signal, log: { info() {}, warn() {} } });
  assert.deepEqual(after.calls.enqueueSystemEvent.map((e) => e.text), ["Zoom: Bob joined"]);

  // the meeting's next turn consumes it
  const next = meetingEvent("ctx-2", { chatGuid: "zoom;+;meeting:77" });
  assert.equal((await after.post(next)).statusCode, 200);
  assert.deepEqual(JSON.parse(readFileSync(pendingFile, "utf8")), []);
  abort.abort();
  await task;
});

test("context events with OpenClaw's durable next-turn injection: awaited before 200; a failure is 503", async () => {
  const injected = [];
  let fail = false;
  const workflow = {
    enqueueNextTurnInjection: async (input) => {
      if (fail) throw new Error("store closed");
      injected.push(input);
      return { enqueued: true };
    },
  };
  const t = setup({ api: { session: { workflow } } });
  const ev = (guid) =>
    newMessage({ guid, text: "Carol joined", sender: "zoom", chatGuid: "zoom;+;meeting:9", zoom: { mode: "context", conversationKind: "group" } });
  assert.equal((await t.post(ev("inj-1"))).statusCode, 200);
  assert.deepEqual(injected, [
    { sessionKey: "agent:main:zoom:group:zoom;+;meeting:9", agentId: "main", text: "Zoom: Carol joined", idempotencyKey: "zoom:event:inj-1" },
  ]);
  assert.equal(t.calls.enqueueSystemEvent.length, 0, "no in-memory copy");
  fail = true;
  const res = await t.post(ev("inj-2"));
  assert.equal(res.statusCode, 503);
  assert.equal(existsSync(join(t.stateDir, "zoom", "pending-context.json")), false);
});

test("webhook credentials: x-password, ?password=, ?guid= and Bearer; constant-time compare", async () => {
  const t = setup({ onDispatch: (args) => clawdbotTurn(args) });
  const cases = [
    [{ "x-password": PASSWORD }, "/zoom-webhook", 200],
    [{}, `/zoom-webhook?guid=${PASSWORD}`, 200],
    [{}, `/zoom-webhook?password=${PASSWORD}`, 200],
    [AUTH, "/zoom-webhook", 200],
    [{ "x-password": "wrong" }, "/zoom-webhook", 401],
    [{}, "/zoom-webhook?guid=wrong", 401],
    [{ authorization: PASSWORD }, "/zoom-webhook", 401],
  ];
  let i = 0;
  for (const [headers, url, status] of cases) {
    const res = await t.post(meetingEvent(`auth-${i++}`), { headers, url });
    assert.equal(res.statusCode, status, JSON.stringify([headers, url]));
  }
});

test("AcceptedLog: bounded by compaction, a torn last line is ignored", () => {
  const dir = tempStateDir();
  const file = join(dir, "zoom", "accepted.jsonl");
  const log = new AcceptedLog(file, 3);
  for (let i = 0; i < 7; i++) log.add(`k${i}`);
  const lines = readFileSync(file, "utf8").trim().split("\n");
  assert.ok(lines.length <= 6, `${lines.length} lines`);
  assert.equal(log.has("k6"), true);
  assert.equal(log.has("k0"), false);

  writeFileSync(file, `${JSON.stringify("a")}\n${JSON.stringify("b")}\n"tor`);
  const reread = new AcceptedLog(file, 3);
  assert.equal(reread.has("a"), true);
  assert.equal(reread.has("b"), true);
  assert.ok(readFileSync(file, "utf8").endsWith("\n"), "rewritten without the torn line");
  reread.add("c");
  assert.deepEqual(
    readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l)),
    ["a", "b", "c"],
  );
});

test("PendingContext keeps the newest entries and consumes per session", () => {
  const file = join(tempStateDir(), "zoom", "pending.json");
  const pending = new PendingContext(file, 2);
  pending.add({ key: "1", sessionKey: "s1", at: 1 });
  pending.add({ key: "2", sessionKey: "s2", at: 2 });
  pending.add({ key: "3", sessionKey: "s1", at: 3 });
  assert.deepEqual(pending.all().map((e) => e.key), ["2", "3"]);
  pending.consume("s1", 2);
  assert.deepEqual(pending.all().map((e) => e.key), ["2", "3"], "queued after the turn started: kept");
  pending.consume("s1", 3);
  assert.deepEqual(pending.all().map((e) => e.key), ["2"]);
});

test("a reply posted by a run the gateway stopped under is not posted again by the redelivery", async () => {
  // First process: the reply goes out, then the process ends before the turn completes
  // (SIGTERM between the send and the dispatch's end): no 2xx, not in the accepted log.
  const never = gate();
  const first = setup({
    onDispatch: async (args) => {
      args.replyOptions.onAgentRunStart?.("run-1");
      await args.dispatcherOptions.deliver({ text: `ACK: ${args.ctx.RawBody}` }, { kind: "block" });
      await never.promise;
    },
    options: { holdMs: 300 },
  });
  const res = await first.post(meetingEvent("posted-1"));
  assert.equal(res.statusCode, 503, "the turn has not completed");
  assert.equal(existsSync(join(first.stateDir, "zoom", "accepted.jsonl")), false);
  const posted = () => sidecar.requests.filter((r) => r.body?.message === "ACK: meeting started posted-1").length;
  assert.equal(posted(), 1);
  // A new process on the same state dir gets the redelivery.
  const second = restarted(first);
  const again = await second.post(meetingEvent("posted-1"));
  assert.equal(again.statusCode, 200);
  assert.equal(again.body, "already replied");
  assert.equal(second.calls.dispatch.length, 0, "not run again");
  assert.equal(posted(), 1, "the reply is in Zoom once");
  assert.equal((await second.post(meetingEvent("posted-1"))).body, "duplicate");
  never.open();
});

test("a turn whose reply was not posted is still re-run by the redelivery", async () => {
  const first = setup({
    onDispatch: async () => {
      throw new Error("interrupted before any reply");
    },
  });
  assert.equal((await first.post(meetingEvent("unposted-1"))).statusCode, 503);
  const second = restarted(first);
  const again = await second.post(meetingEvent("unposted-1"));
  assert.equal(again.statusCode, 200);
  assert.equal(again.body, "ok");
  assert.equal(second.calls.dispatch.length, 1);
});

test("a re-run's replies reuse the first run's tempGuids (the sidecar posts a repeated tempGuid once)", async () => {
  const never = gate();
  const first = setup({
    onDispatch: async (args) => {
      args.replyOptions.onAgentRunStart?.("run-1");
      await args.dispatcherOptions.deliver({ text: `ACK: ${args.ctx.RawBody}` }, { kind: "block" });
      await never.promise;
    },
  });
  assert.equal((await first.post(meetingEvent("posted-2"))).statusCode, 503);
  // The crash window: the reply was posted but the process ended before its record was written.
  rmSync(join(first.stateDir, "zoom", "replied.jsonl"));
  const second = restarted(first);
  assert.equal((await second.post(meetingEvent("posted-2"))).statusCode, 200);
  assert.equal(second.calls.dispatch.length, 1, "re-run");
  const sends = sidecar.requests.filter((r) => r.body?.message === "ACK: meeting started posted-2");
  assert.equal(sends.length, 2);
  assert.equal(sends[0].body.tempGuid, "zoom-reply:default:posted-2:1");
  assert.equal(sends[1].body.tempGuid, sends[0].body.tempGuid);
  never.open();
});

// DM / channel policies, mention gating, pairing through the host's store, and the config
// vocabulary (defaultTo / webhookPath, SecretRef / ${ENV} secrets, unknown keys).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  contextText,
  createZoomPlugin,
  decideAccess,
  parseInboundMessage,
  resolveAccount,
  resolveSecretInput,
  unknownKeys,
} from "../index.js";
import { PASSWORD, baseConfig, fakeApi, fakeReq, fakeRes, fakeRuntime, newMessage, startSidecar } from "./helpers.js";

let sidecar;
before(async () => {
  sidecar = await startSidecar();
});
after(() => sidecar.close());

const dm = (sender = "carol@corp.example") => ({ kind: "direct", sender, chatGuid: `zoom;-;${sender}` });
const channel = (id = "c1", sender = "carol@corp.example") => ({ kind: "channel", sender, chatGuid: `zoom;+;channel:${id}` });

test("dmPolicy: pairing is the default; allowlist, open, disabled; the pairing store lets a sender in", () => {
  const base = { allowFrom: ["alice@corp.example"] };
  assert.deepEqual(decideAccess({ config: base, msg: dm() }), { allow: false, pair: true, reason: "sender not paired yet" });
  assert.equal(decideAccess({ config: base, msg: dm("Alice@Corp.example") }).allow, true);
  assert.equal(decideAccess({ config: base, msg: dm(), storeAllowFrom: ["carol@corp.example"] }).allow, true);
  assert.equal(decideAccess({ config: { ...base, dmPolicy: "allowlist" }, msg: dm() }).pair, undefined);
  assert.equal(decideAccess({ config: { ...base, dmPolicy: "allowlist" }, msg: dm() }).allow, false);
  const open = decideAccess({ config: { ...base, dmPolicy: "open" }, msg: dm() });
  assert.deepEqual([open.allow, open.commandAuthorized], [true, false]);
  assert.equal(decideAccess({ config: { dmPolicy: "disabled", allowFrom: ["*"] }, msg: dm() }).allow, false);
  assert.equal(decideAccess({ config: { dmPolicy: "bogus" }, msg: dm() }).pair, true, "an unknown policy is pairing");
});

test("groupPolicy: allowlist default (groups / groupAllowFrom / allowFrom fallback), open, disabled, per-group overrides", () => {
  // allowlist, nothing listed: no channel message passes.
  assert.equal(decideAccess({ config: {}, msg: channel() }).allow, false);
  // a listed channel lets its members in; requireMention defaults to true.
  const listed = decideAccess({ config: { groups: { c1: {} } }, msg: channel() });
  assert.deepEqual([listed.allow, listed.requireMention], [true, true]);
  assert.equal(decideAccess({ config: { groups: { c1: {} } }, msg: channel("c2") }).allow, false);
  // "*" lists every channel; a channel's own entry wins over it.
  const star = { groups: { "*": { requireMention: false }, c2: { requireMention: true } } };
  assert.deepEqual([decideAccess({ config: star, msg: channel() }).requireMention, decideAccess({ config: star, msg: channel("c2") }).requireMention], [false, true]);
  // groupAllowFrom restricts senders in every channel; allowFrom (and the pairing store) is the fallback.
  assert.equal(decideAccess({ config: { groupAllowFrom: ["carol@corp.example"] }, msg: channel() }).allow, true);
  assert.equal(decideAccess({ config: { groupAllowFrom: ["dan@corp.example"], groups: { c1: {} } }, msg: channel() }).allow, false);
  assert.equal(decideAccess({ config: { allowFrom: ["carol@corp.example"] }, msg: channel() }).allow, true);
  assert.equal(decideAccess({ config: {}, msg: channel(), storeAllowFrom: ["carol@corp.example"] }).allow, true);
  // per-group allowFrom overrides groupAllowFrom; enabled: false switches a channel off.
  const perGroup = { groupAllowFrom: ["carol@corp.example"], groups: { c1: { allowFrom: ["dan@corp.example"] } } };
  assert.equal(decideAccess({ config: perGroup, msg: channel() }).allow, false);
  assert.equal(decideAccess({ config: perGroup, msg: channel("c1", "dan@corp.example") }).allow, true);
  assert.equal(decideAccess({ config: { groupPolicy: "open", groups: { c1: { enabled: false } } }, msg: channel() }).allow, false);
  // open: any channel and sender; disabled: none; channels.defaults.groupPolicy is the fallback.
  assert.equal(decideAccess({ config: { groupPolicy: "open" }, msg: channel() }).allow, true);
  assert.equal(decideAccess({ config: { groupPolicy: "disabled", groups: { c1: {} } }, msg: channel() }).allow, false);
  assert.equal(decideAccess({ config: {}, cfg: { channels: { defaults: { groupPolicy: "open" } } }, msg: channel() }).allow, true);
});

/** A registered plugin with a pairing-capable runtime (OpenClaw's object-style store API by default). */
function setup(zoom = {}, { clawdbotStore = false } = {}) {
  const cfg = baseConfig({ sidecarUrl: sidecar.url, ...zoom });
  const { runtime, calls } = fakeRuntime();
  runtime.config = { current: () => cfg };
  const store = { requests: [], allowFrom: [], reads: [] };
  runtime.channel.pairing = {
    buildPairingReply: ({ channel, idLine, code }) => `${channel} access not configured. ${idLine} Pairing code: ${code}`,
    upsertPairingRequest: async ({ channel, id, accountId, meta }) => {
      const existing = store.requests.find((r) => r.id === id);
      if (existing) return { code: existing.code, created: false };
      const code = `CODE${store.requests.length + 1}`;
      store.requests.push({ channel, id, accountId, meta, code });
      return { code, created: true };
    },
    readAllowFromStore: async (arg) => {
      store.reads.push(arg);
      return store.allowFrom;
    },
  };
  if (!clawdbotStore) runtime.channel.pairing.removeAllowFromStoreEntry = async () => {};
  runtime.channel.mentions = {
    buildMentionRegexes: () => [/\bclawd\b/i],
    matchesMentionPatterns: (text, regexes) => regexes.some((r) => r.test(text)),
  };
  const fake = fakeApi({ config: { channels: {} }, runtime });
  createZoomPlugin().register(fake.api);
  async function post(body) {
    const res = fakeRes();
    await fake.routes[0].handler(fakeReq({ headers: { authorization: `Bearer ${PASSWORD}` }, body }), res);
    return res;
  }
  sidecar.requests.length = 0;
  return { cfg, calls, post, store, channel: fake.channels[0] };
}

test("pairing: an unknown DM sender gets one code by Team Chat in the same DM; after approval the message runs", async () => {
  const t = setup({ dmPolicy: undefined });
  const res = await t.post(newMessage({ guid: "p-1", sender: "Carol@Corp.example", text: "hi" }));
  assert.equal(res.statusCode, 200);
  assert.equal(t.calls.dispatch.length, 0, "no turn before approval");
  assert.deepEqual(t.store.requests.map((r) => [r.channel, r.id, r.accountId, r.meta.name]), [["zoom", "carol@corp.example", "default", "Alice"]]);
  assert.deepEqual(t.store.reads, [{ channel: "zoom", accountId: "default" }], "OpenClaw's per-account store");
  const sent = sidecar.requests.filter((r) => r.path === "/api/v1/message/text");
  assert.equal(sent.length, 1);
  assert.equal(sent[0].body.chatGuid, "zoom;-;carol@corp.example");
  assert.match(sent[0].body.message, /Pairing code: CODE1/);
  // a second message while pending sends no second code
  await t.post(newMessage({ guid: "p-2", sender: "carol@corp.example" }));
  assert.equal(sidecar.requests.filter((r) => r.path === "/api/v1/message/text").length, 1);
  // `pairing approve zoom CODE1` puts the sender in the store: the next message starts a turn
  t.store.allowFrom.push("carol@corp.example");
  await t.post(newMessage({ guid: "p-3", sender: "carol@corp.example" }));
  assert.equal(t.calls.dispatch.length, 1);
  assert.equal(t.calls.finalizeInboundContext[0].CommandAuthorized, true);
});

test("pairing on Clawdbot's store API (channel as the argument); the pairing adapter is declared", async () => {
  const t = setup({ dmPolicy: "pairing" }, { clawdbotStore: true });
  await t.post(newMessage({ guid: "c-1", sender: "dan@corp.example" }));
  assert.deepEqual(t.store.reads, ["zoom"]);
  assert.equal(t.store.requests.length, 1);
  assert.equal(t.channel.pairing.idLabel, "zoomUser");
  assert.equal(t.channel.pairing.normalizeAllowEntry("zoom:Dan@Corp.Example"), "dan@corp.example");
  const policy = t.channel.security.resolveDmPolicy({ cfg: baseConfig({ dmPolicy: undefined }), accountId: "default" });
  assert.equal(policy.policy, "pairing");
});

test("channel messages: unmentioned ones are context, no turn; mentioned ones (Zoom data or the host's patterns) run", async () => {
  const t = setup({ groups: { c1: {} } });
  const msg = (guid, text, zoom = {}) =>
    newMessage({ guid, text, sender: "carol@corp.example", chatGuid: "zoom;+;channel:c1", zoom: { mode: "message", conversationKind: "channel", ...zoom } });
  assert.equal((await t.post(msg("m-1", "lunch?"))).statusCode, 200);
  assert.equal(t.calls.dispatch.length, 0);
  assert.equal(t.calls.enqueueSystemEvent.length, 1, "kept as context for the next turn");
  assert.equal(t.calls.enqueueSystemEvent[0].text, "Zoom [zoom;+;channel:c1] Alice (carol@corp.example): lunch?", "the agent sees who said it");
  await t.post(msg("m-2", "what is blocking?", { wasMentioned: true }));
  assert.equal(t.calls.dispatch.length, 1);
  assert.equal(t.calls.finalizeInboundContext[0].WasMentioned, true);
  await t.post(msg("m-3", "clawd, summarise", { wasMentioned: false }));
  assert.equal(t.calls.dispatch.length, 2, "the host's mention patterns count too");
  // requireMention: false lets every message of the channel run, with WasMentioned false
  const quiet = setup({ groups: { c1: { requireMention: false } } });
  await quiet.post(msg("m-4", "lunch?", { wasMentioned: false }));
  assert.equal(quiet.calls.dispatch.length, 1);
  assert.equal(quiet.calls.finalizeInboundContext[0].WasMentioned, false);
  assert.equal(quiet.channel.groups.resolveRequireMention({ cfg: quiet.cfg, accountId: "default", groupId: "c1" }), false);
});

test("context text names the sender and the conversation; Zoom's own events stay `Zoom: …`", () => {
  const parse = (over) => parseInboundMessage(newMessage(over).data);
  const channel = parse({ sender: "carol@corp.example", displayName: "Carol Diaz", text: "lunch?", chatGuid: "zoom;+;channel:c1", chatName: "#general" });
  assert.equal(contextText(channel), "Zoom [#general] Carol Diaz (carol@corp.example): lunch?");
  // No name known (the handle carries only the id): the id alone, not twice.
  const bare = parse({ sender: "u-carol", displayName: "U-Carol", chatGuid: "zoom;+;channel:c1", text: "hi" });
  assert.equal(contextText(bare), "Zoom [zoom;+;channel:c1] u-carol: hi");
  const direct = parse({ sender: "dan@corp.example", displayName: "Dan", text: "ping", zoom: { mode: "context" } });
  assert.equal(contextText(direct), "Zoom Dan (dan@corp.example): ping");
  const event = parse({ sender: "zoom", text: "Bob joined Weekly sync", chatGuid: "zoom;+;meeting:8123" });
  assert.equal(contextText(event), "Zoom: Bob joined Weekly sync");
});

test("meeting events pass no DM / channel policy and no mention gate", async () => {
  const t = setup({ dmPolicy: "disabled", groupPolicy: "disabled" });
  await t.post(newMessage({ guid: "e-1", sender: "zoom", text: "Meeting started", chatGuid: "zoom;+;meeting:9", zoom: { mode: "message", conversationKind: "group" } }));
  assert.equal(t.calls.dispatch.length, 1);
  assert.equal(t.calls.finalizeInboundContext[0].WasMentioned, true);
  assert.equal(t.store.requests.length, 0);
});

test("vocabulary: defaultTo / webhookPath, old names read with a deprecation note (new ones win)", () => {
  const old = resolveAccount(baseConfig({ defaultTarget: "a@x.example", inboundPath: "/old" }));
  assert.equal(old.config.defaultTo, "a@x.example");
  assert.equal(old.inboundPath, "/old");
  assert.equal("defaultTarget" in old.config, false, "the sidecar gets the new name");
  assert.deepEqual(old.deprecations, [
    "channels.zoom.defaultTarget is deprecated; rename it to channels.zoom.defaultTo",
    "channels.zoom.inboundPath is deprecated; rename it to channels.zoom.webhookPath",
  ]);
  const both = resolveAccount(baseConfig({ defaultTarget: "old@x.example", defaultTo: "new@x.example", webhookPath: "zoom-new" }));
  assert.equal(both.config.defaultTo, "new@x.example");
  assert.equal(both.inboundPath, "/zoom-new");
  const account = resolveAccount(baseConfig({ accounts: { work: { inboundPath: "/w" } } }), "work");
  assert.equal(account.inboundPath, "/w");
  assert.match(account.deprecations[0], /channels\.zoom\.accounts\.work\.inboundPath/);
});

test("secrets: ${ENV} / $ENV / env SecretRefs resolve; other refs wait for the host; errors never show values", () => {
  const env = { ZOOM_SECRET: "from-env", SHIM_PW: "pw-env" };
  assert.deepEqual(resolveSecretInput("${ZOOM_SECRET}", env), { value: "from-env" });
  assert.deepEqual(resolveSecretInput("$ZOOM_SECRET", env), { value: "from-env" });
  assert.deepEqual(resolveSecretInput("plain$text", env), { value: "plain$text" });
  assert.deepEqual(resolveSecretInput({ source: "env", provider: "default", id: "SHIM_PW" }, env), { value: "pw-env" });
  assert.deepEqual(resolveSecretInput({ source: "file", provider: "f", id: "/zoom/secret" }, env), { ref: { source: "file", provider: "f", id: "/zoom/secret" } });
  assert.deepEqual(resolveSecretInput("${MISSING}", env), { error: "environment variable MISSING is not set" });
  assert.match(resolveSecretInput(42, env).error, /string or a SecretRef/);

  const cfg = baseConfig({ clientSecret: "${ZOOM_SECRET}", password: { source: "env", id: "SHIM_PW" }, webhookSecretToken: { source: "exec", provider: "vault", id: "zoom/token" } });
  const account = resolveAccount(cfg, undefined, { env });
  assert.equal(account.config.clientSecret, "from-env");
  assert.equal(account.config.password, "pw-env");
  assert.equal(account.config.webhookSecretToken, undefined);
  assert.deepEqual(account.pendingSecrets, ["webhookSecretToken"]);
  assert.equal(account.configured, true, "a SecretRef counts as configured");
  const broken = resolveAccount(baseConfig({ clientSecret: "${NOPE}" }), undefined, { env });
  assert.deepEqual(broken.secretErrors, ["clientSecret: environment variable NOPE is not set"]);
});

test("a SecretRef the host resolves is used; without host support the start fails naming the key", async () => {
  const cfg = baseConfig({ sidecarUrl: sidecar.url, password: { source: "file", provider: "f", id: "/pw" } });
  for (const [resolver, expectError] of [
    [async ({ path }) => ({ value: path === "channels.zoom.password" ? PASSWORD : undefined }), null],
    [null, /channels\.zoom\.password: a SecretRef with source "file" needs the host's secrets support/],
  ]) {
    const { runtime } = fakeRuntime();
    runtime.config = { current: () => cfg };
    const fake = fakeApi({ config: cfg, runtime });
    createZoomPlugin({ secretResolver: resolver }).register(fake.api);
    const abort = new AbortController();
    const statuses = [];
    const task = fake.channels[0].gateway.startAccount({
      cfg,
      accountId: "default",
      abortSignal: abort.signal,
      setStatus: (s) => statuses.push(s),
      log: { info() {}, warn() {}, error() {} },
    });
    if (expectError) {
      await assert.rejects(task, expectError);
      assert.match(statuses.at(-1).lastError, expectError);
      continue;
    }
    // started: the webhook now accepts the resolved password
    for (let i = 0; i < 100 && !statuses.some((s) => s.running); i++) await new Promise((r) => setImmediate(r));
    const res = fakeRes();
    await fake.routes[0].handler(fakeReq({ headers: { authorization: `Bearer ${PASSWORD}` }, body: newMessage({ guid: "s-1" }) }), res);
    assert.equal(res.statusCode, 200);
    abort.abort();
    await task;
  }
});

test("unknown keys are named (the host's schema rejects them; Clawdbot does not validate plugin channels)", () => {
  const schema = { properties: { clientId: {}, accounts: { additionalProperties: { properties: { clientId: {} } } } } };
  const cfg = { channels: { zoom: { clientId: "x", clinetSecret: "y", accounts: { work: { clientId: "z", dmPolcy: "open" } } } } };
  assert.deepEqual(unknownKeys(cfg, schema), ["channels.zoom.clinetSecret", "channels.zoom.accounts.work.dmPolcy"]);
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { createZoomPlugin } from "../index.js";
import { PASSWORD, baseConfig, fakeApi, fakeReq, fakeRes, fakeRuntime, newMessage, startSidecar } from "./helpers.js";

let sidecar;
before(async () => {
  sidecar = await startSidecar();
});
after(() => sidecar.close());

/** A registered plugin whose live config comes from runtime.config.current(). */
function setup(zoom = {}, { runtimeOptions, legacyConfig } = {}) {
  const cfg = baseConfig({ sidecarUrl: sidecar.url, ...zoom });
  const { runtime, calls, stateDir } = fakeRuntime(runtimeOptions);
  if (legacyConfig) runtime.config = { loadConfig: () => cfg };
  else runtime.config = { current: () => cfg };
  const fake = fakeApi({ config: { channels: {} }, runtime });
  createZoomPlugin().register(fake.api);
  const route = (path = "/zoom-webhook") => fake.routes.find((r) => r.path === path);
  async function post(body, { headers = { authorization: `Bearer ${PASSWORD}` }, url = "/zoom-webhook", method, remoteAddress } = {}) {
    const res = fakeRes();
    const handled = await route(url.split("?")[0]).handler(fakeReq({ method, url, headers, body, remoteAddress }), res);
    assert.equal(handled, true);
    return res;
  }
  sidecar.requests.length = 0;
  return { cfg, calls, post, fake, stateDir };
}

test("non-POST gets 405", async () => {
  const { post } = setup();
  const res = await post(undefined, { method: "GET" });
  assert.equal(res.statusCode, 405);
  assert.equal(res.headers.allow, "POST");
});

test("wrong or missing secret gets 401, also from loopback", async () => {
  const { post, calls } = setup();
  for (const [headers, url] of [
    [{ authorization: "Bearer wrong" }, "/zoom-webhook"],
    [{}, "/zoom-webhook?password=wrong"],
    [{}, "/zoom-webhook"],
    [{ authorization: PASSWORD }, "/zoom-webhook"],
    [{ authorization: `Bearer ${PASSWORD}x` }, "/zoom-webhook"],
  ]) {
    const res = await post(newMessage(), { headers, url, remoteAddress: "127.0.0.1" });
    assert.equal(res.statusCode, 401, JSON.stringify([headers, url]));
  }
  assert.equal(calls.dispatch.length, 0);
});

test("the secret is accepted from ?password= too", async () => {
  const { post, calls } = setup();
  const res = await post(newMessage({ guid: "q-1" }), { headers: {}, url: `/zoom-webhook?password=${PASSWORD}` });
  assert.equal(res.statusCode, 200);
  assert.equal(calls.dispatch.length, 1);
});

test("an empty configured password never authenticates", async () => {
  const { post } = setup({ password: "" });
  const res = await post(newMessage(), { headers: { authorization: "Bearer " } });
  assert.equal(res.statusCode, 401);
});

test("body over 1 MiB gets 413, bad JSON 400, invalid payload 400, other types 200", async () => {
  const { post, calls } = setup();
  const big = await post(Buffer.alloc(1024 * 1024 + 1, 0x20));
  assert.equal(big.statusCode, 413);
  const declared = await post("{}", { headers: { authorization: `Bearer ${PASSWORD}`, "content-length": "2000000" } });
  assert.equal(declared.statusCode, 413);
  assert.equal((await post("{not json")).statusCode, 400);
  assert.equal((await post({ type: "new-message", data: { text: "no guid" } })).statusCode, 400);
  const typing = await post({ type: "typing-indicator", data: {} });
  assert.equal(typing.statusCode, 200);
  assert.equal(calls.dispatch.length, 0);
});

test("message mode: route, context fields, dispatch, reply to the same chatGuid", async () => {
  const { post, calls, cfg, stateDir } = setup();
  const res = await post(newMessage({ guid: "dm-1", text: "hello zoom", threadOriginatorGuid: "root-1" }));
  assert.equal(res.statusCode, 200);
  assert.deepEqual(calls.resolveAgentRoute[0], {
    cfg,
    channel: "zoom",
    accountId: "default",
    peer: { kind: "dm", id: "alice@corp.example" },
  });
  assert.deepEqual(calls.readSessionUpdatedAt[0], {
    storePath: join(stateDir, "store-main.json"),
    sessionKey: "agent:main:zoom:dm:alice@corp.example",
  });
  assert.equal(calls.formatAgentEnvelope[0].previousTimestamp, 1_700_000_000_000);
  const ctx = calls.finalizeInboundContext[0];
  assert.deepEqual(
    { ...ctx },
    {
      Body: "[Zoom Alice] hello zoom",
      BodyForAgent: "[Zoom Alice] hello zoom",
      RawBody: "hello zoom",
      CommandBody: "hello zoom",
      BodyForCommands: "hello zoom",
      From: "zoom:alice@corp.example",
      To: "zoom:zoom;-;alice@corp.example",
      OriginatingTo: "zoom:zoom;-;alice@corp.example",
      SessionKey: "agent:main:zoom:dm:alice@corp.example",
      AccountId: "default",
      ChatType: "direct",
      ConversationLabel: "Alice",
      SenderName: "Alice",
      SenderId: "alice@corp.example",
      MessageSid: "dm-1",
      ReplyToId: "root-1",
      Timestamp: 1_767_225_600_000,
      Provider: "zoom",
      Surface: "zoom",
      OriginatingChannel: "zoom",
      WasMentioned: true,
      CommandAuthorized: true,
    },
  );
  assert.equal(calls.dispatch.length, 1);
  assert.equal(calls.dispatch[0].ctx.finalized, true);
  assert.equal(calls.dispatch[0].cfg, cfg);
  assert.equal(sidecar.requests.length, 1);
  const sent = sidecar.requests[0];
  assert.equal(sent.path, "/api/v1/message/text");
  assert.equal(sent.body.chatGuid, "zoom;-;alice@corp.example");
  assert.equal(sent.body.message, "ACK: hello zoom");
  assert.equal(sent.headers.authorization, `Bearer ${PASSWORD}`);
  assert.equal(calls.enqueueSystemEvent.length, 0);
});

test("meeting conversation: group peer, group fields, media URLs delivered as text", async () => {
  const { post, calls } = setup(
    { allowFrom: [] },
    {
      runtimeOptions: {
        onDispatch: (args) => args.dispatcherOptions.deliver({ text: "noted", mediaUrls: ["https://x.example/1.png"], replyToId: "r-1" }),
      },
    },
  );
  const res = await post(
    newMessage({
      guid: "ev-1",
      text: "Meeting started: Weekly sync",
      sender: "zoom",
      displayName: "Zoom",
      chatGuid: "zoom;+;meeting:8123",
      zoom: { eventType: "meeting.started", mode: "message", conversationKind: "group", conversationLabel: "Weekly sync" },
    }),
  );
  assert.equal(res.statusCode, 200);
  assert.deepEqual(calls.resolveAgentRoute[0].peer, { kind: "group", id: "zoom;+;meeting:8123" });
  const ctx = calls.finalizeInboundContext[0];
  assert.equal(ctx.From, "zoom:group:zoom;+;meeting:8123");
  assert.equal(ctx.To, "zoom:zoom;+;meeting:8123");
  assert.equal(ctx.ChatType, "group");
  assert.equal(ctx.GroupSubject, "Weekly sync");
  assert.equal(ctx.ConversationLabel, "Weekly sync");
  assert.equal(ctx.CommandAuthorized, false, "event text cannot run commands");
  assert.equal(sidecar.requests[0].body.chatGuid, "zoom;+;meeting:8123");
  assert.equal(sidecar.requests[0].body.message, "noted\nhttps://x.example/1.png");
  assert.equal(sidecar.requests[0].body.selectedMessageGuid, "r-1");
});

test("Team Chat channel message: channel peer", async () => {
  const { post, calls } = setup({ allowFrom: ["alice@corp.example"] });
  // Channels are mention-gated (requireMention defaults to true): this one names the assistant.
  await post(newMessage({ guid: "ch-1", chatGuid: "zoom;+;channel:abc", zoom: { mode: "message", conversationKind: "channel", conversationLabel: "#general", wasMentioned: true } }));
  assert.equal(calls.finalizeInboundContext[0].WasMentioned, true);
  assert.deepEqual(calls.resolveAgentRoute[0].peer, { kind: "channel", id: "zoom;+;channel:abc" });
  assert.equal(calls.finalizeInboundContext[0].ChatType, "channel");
  assert.equal(calls.finalizeInboundContext[0].GroupSubject, "#general");
  assert.equal(sidecar.requests[0].body.chatGuid, "zoom;+;channel:abc");
});

test("context mode enqueues a system event and starts no turn", async () => {
  const { post, calls } = setup();
  const res = await post(
    newMessage({
      guid: "ev-2",
      text: "Bob joined Weekly sync",
      sender: "zoom",
      chatGuid: "zoom;+;meeting:8123",
      zoom: { eventType: "meeting.participant_joined", mode: "context", conversationKind: "group" },
    }),
  );
  assert.equal(res.statusCode, 200);
  assert.deepEqual(calls.enqueueSystemEvent, [
    {
      text: "Zoom: Bob joined Weekly sync",
      opts: { sessionKey: "agent:main:zoom:group:zoom;+;meeting:8123", agentId: "main", contextKey: "zoom:event:ev-2" },
    },
  ]);
  assert.equal(calls.dispatch.length, 0);
  assert.equal(sidecar.requests.length, 0);
});

test("drop mode and own messages are ignored", async () => {
  const { post, calls } = setup();
  const drop = await post(newMessage({ guid: "ev-3", sender: "zoom", chatGuid: "zoom;+;feed", zoom: { mode: "drop" } }));
  assert.equal(drop.statusCode, 200);
  const mine = newMessage({ guid: "me-1" });
  mine.data.isFromMe = true;
  assert.equal((await post(mine)).statusCode, 200);
  assert.equal(calls.resolveAgentRoute.length + calls.dispatch.length + calls.enqueueSystemEvent.length, 0);
});

test("DM allowlist: unknown Team Chat senders are dropped silently", async () => {
  const { post, calls } = setup({ allowFrom: ["Alice@Corp.Example"] });
  const res = await post(newMessage({ guid: "x-1", sender: "mallory@evil.example" }));
  assert.equal(res.statusCode, 200);
  await post(newMessage({ guid: "x-2", sender: "mallory@evil.example", chatGuid: "zoom;+;channel:abc" }));
  assert.equal(calls.dispatch.length, 0);
  await post(newMessage({ guid: "x-3", sender: "alice@corp.example" }));
  assert.equal(calls.dispatch.length, 1, "allowlisted sender (case-insensitive) passes");
});

test("DM policy open / disabled / wildcard; meeting events bypass the policy", async () => {
  const open = setup({ dmPolicy: "open", allowFrom: [] });
  await open.post(newMessage({ guid: "o-1", sender: "x@y.example" }));
  assert.equal(open.calls.dispatch.length, 1);
  assert.equal(open.calls.finalizeInboundContext[0].CommandAuthorized, false, "open but not allowlisted");

  const disabled = setup({ dmPolicy: "disabled", allowFrom: ["*"] });
  await disabled.post(newMessage({ guid: "d-1" }));
  assert.equal(disabled.calls.dispatch.length, 0);
  await disabled.post(newMessage({ guid: "d-2", sender: "zoom", chatGuid: "zoom;+;meeting:1" }));
  assert.equal(disabled.calls.dispatch.length, 1, "meeting events are not subject to the DM policy");

  const star = setup({ allowFrom: ["*"] });
  await star.post(newMessage({ guid: "s-1", sender: "anyone@x.example" }));
  assert.equal(star.calls.dispatch.length, 1);
});

test("duplicate guids are dropped", async () => {
  const { post, calls } = setup();
  assert.equal((await post(newMessage({ guid: "dup-1" }))).statusCode, 200);
  assert.equal((await post(newMessage({ guid: "dup-1" }))).statusCode, 200);
  assert.equal(calls.dispatch.length, 1);
});

test("legacy runtime.config.loadConfig and per-account secrets/paths", async () => {
  const cfgZoom = { accounts: { work: { password: "work-pass", inboundPath: "/zoom-work" } } };
  const { calls, fake } = setup(cfgZoom, { legacyConfig: true });
  // the live config is not the load-time one: only the default route exists
  const res = fakeRes();
  await fake.routes[0].handler(fakeReq({ headers: { authorization: "Bearer work-pass" }, body: newMessage({ guid: "w-0" }) }), res);
  assert.equal(res.statusCode, 401, "work's path is /zoom-work, not /zoom-webhook");

  const cfg = baseConfig({ sidecarUrl: sidecar.url, ...cfgZoom });
  const { runtime } = fakeRuntime();
  runtime.config = { loadConfig: () => cfg };
  const reg = fakeApi({ config: cfg, runtime });
  createZoomPlugin().register(reg.api);
  const work = reg.routes.find((r) => r.path === "/zoom-work");
  assert.ok(work, "a route per configured inboundPath");
  const ok = fakeRes();
  await work.handler(fakeReq({ url: "/zoom-work", headers: { authorization: "Bearer work-pass" }, body: newMessage({ guid: "w-1" }) }), ok);
  assert.equal(ok.statusCode, 200);
  const wrong = fakeRes();
  await work.handler(fakeReq({ url: "/zoom-work", headers: { authorization: `Bearer ${PASSWORD}` }, body: newMessage({ guid: "w-2" }) }), wrong);
  assert.equal(wrong.statusCode, 401, "the top-level password is not work's");
  assert.equal(calls.dispatch.length, 0);
});

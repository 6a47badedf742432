import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { createZoomPlugin } from "../index.js";
import { PASSWORD, baseConfig, fakeApi, startSidecar } from "./helpers.js";

let sidecar;
before(async () => {
  sidecar = await startSidecar({
    "POST /api/v1/message/text": (req) =>
      req.body.chatGuid === "zoom;+;meeting:1"
        ? [
            400,
            {
              status: 400,
              message: "No reply target",
              error: { type: "Validation Error", message: "channels.zoom.defaultTarget is required for meeting conversations" },
            },
          ]
        : [200, { status: 200, message: "Message sent!", data: { guid: "zm-sent-1" } }],
  });
});
after(() => sidecar.close());

function channel() {
  const fake = fakeApi({ config: baseConfig({ sidecarUrl: sidecar.url }) });
  createZoomPlugin().register(fake.api);
  return fake.channels[0];
}

test("sendText posts message/text with both auth forms", async () => {
  sidecar.requests.length = 0;
  const cfg = baseConfig({ sidecarUrl: sidecar.url });
  const result = await channel().outbound.sendText({ cfg, to: "zoom:Bob@Corp.Example", text: "hi from cli" });
  assert.deepEqual(result, { channel: "zoom", messageId: "zm-sent-1", chatId: "zoom;-;bob@corp.example" });
  assert.equal(sidecar.requests.length, 1);
  const req = sidecar.requests[0];
  assert.equal(req.method, "POST");
  assert.equal(req.path, "/api/v1/message/text");
  assert.equal(req.query.password, PASSWORD);
  assert.equal(req.headers.authorization, `Bearer ${PASSWORD}`);
  assert.equal(req.headers["content-type"], "application/json");
  assert.equal(req.body.chatGuid, "zoom;-;bob@corp.example");
  assert.equal(req.body.message, "hi from cli");
  assert.match(req.body.tempGuid, /^[0-9a-f-]{36}$/);
  assert.equal("selectedMessageGuid" in req.body, false);
});

test("sendText passes replyToId as selectedMessageGuid; tempGuids differ", async () => {
  sidecar.requests.length = 0;
  const cfg = baseConfig({ sidecarUrl: sidecar.url });
  const ch = channel();
  await ch.outbound.sendText({ cfg, to: "channel:abc", text: "a", replyToId: "msg-9" });
  await ch.outbound.sendText({ cfg, to: "channel:abc", text: "b" });
  assert.equal(sidecar.requests[0].body.chatGuid, "zoom;+;channel:abc");
  assert.equal(sidecar.requests[0].body.selectedMessageGuid, "msg-9");
  assert.notEqual(sidecar.requests[0].body.tempGuid, sidecar.requests[1].body.tempGuid);
});

test("sendMedia sends caption and URL as text through the same call", async () => {
  sidecar.requests.length = 0;
  const cfg = baseConfig({ sidecarUrl: sidecar.url });
  const ch = channel();
  const result = await ch.outbound.sendMedia({ cfg, to: "a@b.example", text: "look", mediaUrl: "https://x.example/a.png" });
  await ch.outbound.sendMedia({ cfg, to: "a@b.example", mediaUrl: "https://x.example/b.png" });
  assert.equal(result.messageId, "zm-sent-1");
  assert.equal(sidecar.requests[0].path, "/api/v1/message/text");
  assert.equal(sidecar.requests[0].body.message, "look\nhttps://x.example/a.png");
  assert.equal(sidecar.requests[1].body.message, "https://x.example/b.png");
});

test("a non-2xx answer throws the sidecar's error text, never the password", async () => {
  const cfg = baseConfig({ sidecarUrl: sidecar.url });
  await assert.rejects(
    channel().outbound.sendText({ cfg, to: "zoom;+;meeting:1", text: "x" }),
    (err) => {
      assert.match(err.message, /\(400\)/);
      assert.match(err.message, /channels\.zoom\.defaultTarget is required/);
      assert.equal(err.message.includes(PASSWORD), false);
      return true;
    },
  );
});

test("unreachable sidecar and bad targets give clear errors", async () => {
  const dead = baseConfig({ sidecarUrl: "http://127.0.0.1:9" });
  await assert.rejects(channel().outbound.sendText({ cfg: dead, to: "a@b.example", text: "x" }), (err) => {
    assert.match(err.message, /unreachable/);
    assert.equal(err.message.includes(PASSWORD), false);
    return true;
  });
  await assert.rejects(
    channel().outbound.sendText({ cfg: baseConfig({ sidecarUrl: sidecar.url }), to: "no way", text: "x" }),
    /invalid Zoom target/,
  );
  await assert.rejects(
    channel().outbound.sendText({ cfg: baseConfig({ sidecarUrl: sidecar.url, password: "" }), to: "a@b.example", text: "x" }),
    /channels\.zoom\.password is required/,
  );
});

test("probeAccount: ping + server/info, and failures", async () => {
  sidecar.requests.length = 0;
  const ch = channel();
  const account = ch.config.resolveAccount(baseConfig({ sidecarUrl: sidecar.url }));
  const probe = await ch.status.probeAccount({ account, timeoutMs: 2000 });
  assert.equal(probe.ok, true);
  assert.equal(probe.status, 200);
  assert.deepEqual(
    sidecar.requests.map((r) => r.path),
    ["/api/v1/ping", "/api/v1/server/info"],
  );
  assert.equal(sidecar.requests[0].headers.authorization, `Bearer ${PASSWORD}`);
  const wrong = ch.config.resolveAccount(baseConfig({ sidecarUrl: `${sidecar.url}/nope` }));
  const bad = await ch.status.probeAccount({ account: wrong, timeoutMs: 2000 });
  assert.equal(bad.ok, false);
  assert.equal(bad.status, 404);
  assert.match(bad.error, /404/);
  const dead = await ch.status.probeAccount({ account: ch.config.resolveAccount(baseConfig({ sidecarUrl: "http://127.0.0.1:9" })) });
  assert.deepEqual([dead.ok, dead.status], [false, null]);
});

test("buildAccountSnapshot reads the sidecar's /status", async () => {
  const ch = channel();
  const account = ch.config.resolveAccount(baseConfig({ sidecarUrl: sidecar.url }));
  const snap = await ch.status.buildAccountSnapshot({
    account,
    runtime: { running: true, lastStartAt: 5, lastInboundAt: 1 },
    probe: { ok: true },
  });
  assert.equal(snap.accountId, "default");
  assert.equal(snap.configured, true);
  assert.equal(snap.running, true);
  assert.equal(snap.connected, true);
  assert.equal(snap.lastInboundAt, 1_700_000_000_500);
  assert.equal(snap.lastStartAt, 5);
  assert.deepEqual(snap.probe, { ok: true });
  const down = await ch.status.buildAccountSnapshot({
    account: ch.config.resolveAccount(baseConfig({ sidecarUrl: "http://127.0.0.1:9" })),
    runtime: { running: true },
  });
  assert.equal(down.connected, false);
  assert.match(down.lastError, /unreachable/);
});

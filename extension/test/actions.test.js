// The agent's message actions: react / edit / unsend reach the sidecar's BlueBubbles
// routes with the shapes Moltbot's BlueBubbles client sends.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { createZoomPlugin } from "../index.js";
import { PASSWORD, baseConfig, fakeApi, startSidecar } from "./helpers.js";

let sidecar;
before(async () => {
  sidecar = await startSidecar({
    "POST /api/v1/message/react": (req) =>
      req.body.reaction === "thumbsup"
        ? [400, { status: 400, message: "Bad Request", error: { type: "Validation Error", message: "unknown reaction `thumbsup`" } }]
        : [200, { status: 200, message: "Reaction sent!" }],
    "POST /api/v1/message/zm-1/edit": () => [200, { status: 200, message: "Message edited!" }],
    "POST /api/v1/message/zm-1/unsend": () => [200, { status: 200, message: "Message unsent!" }],
  });
});
after(() => sidecar.close());

function actions() {
  const fake = fakeApi({ config: baseConfig({ sidecarUrl: sidecar.url }) });
  createZoomPlugin().register(fake.api);
  return fake.channels[0].actions;
}

test("the channel lists react, edit and unsend (Clawdbot's listActions, OpenClaw's describeMessageTool)", () => {
  const a = actions();
  assert.deepEqual(a.listActions({ cfg: baseConfig() }), ["react", "edit", "unsend"]);
  assert.deepEqual(a.describeMessageTool({ cfg: baseConfig(), currentChannelProvider: "zoom" }), { actions: ["react", "edit", "unsend"] });
  assert.equal(a.supportsAction({ action: "edit" }), true);
  assert.equal(a.supportsAction({ action: "pin" }), false);
});

test("react, remove, edit and unsend reach the sidecar", async () => {
  sidecar.requests.length = 0;
  const cfg = baseConfig({ sidecarUrl: sidecar.url });
  const a = actions();
  const added = await a.handleAction({ action: "react", params: { messageId: "zm-1", emoji: "👍" }, cfg, toolContext: { currentChannelId: "channel:chan-1" } });
  assert.deepEqual(added.details, { ok: true, added: "👍" });
  await a.handleAction({ action: "react", params: { messageId: "zm-1", emoji: "like", remove: true, to: "bob@corp.example" }, cfg });
  await a.handleAction({ action: "edit", params: { messageId: "zm-1", text: "final" }, cfg });
  await a.handleAction({ action: "unsend", params: { messageId: "zm-1" }, cfg });
  const [r1, r2, e, u] = sidecar.requests;
  assert.deepEqual(r1.body, { chatGuid: "zoom;+;channel:chan-1", selectedMessageGuid: "zm-1", reaction: "👍", partIndex: 0 });
  assert.equal(r1.query.password, PASSWORD);
  assert.deepEqual(r2.body, { chatGuid: "zoom;-;bob@corp.example", selectedMessageGuid: "zm-1", reaction: "-like", partIndex: 0 });
  assert.equal(e.path, "/api/v1/message/zm-1/edit");
  assert.deepEqual(e.body, { editedMessage: "final", backwardsCompatibilityMessage: "Edited to: final", partIndex: 0 });
  assert.equal(u.path, "/api/v1/message/zm-1/unsend");
});

test("missing parameters and the sidecar's refusal are clear errors", async () => {
  const cfg = baseConfig({ sidecarUrl: sidecar.url });
  const a = actions();
  await assert.rejects(a.handleAction({ action: "edit", params: { text: "x" }, cfg }), /requires messageId/);
  await assert.rejects(a.handleAction({ action: "edit", params: { messageId: "zm-1" }, cfg }), /requires text/);
  await assert.rejects(a.handleAction({ action: "react", params: { messageId: "zm-1", emoji: "👍" }, cfg }), /requires the chat/);
  await assert.rejects(
    a.handleAction({ action: "react", params: { messageId: "zm-1", emoji: "thumbsup", to: "channel:c" }, cfg }),
    (err) => {
      assert.match(err.message, /\(400\): .*unknown reaction `thumbsup`/);
      assert.equal(err.message.includes(PASSWORD), false);
      return true;
    },
  );
});

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { createZoomPlugin, resolveAccount } from "../index.js";
import { attributeName, zoomSetup } from "../setup.js";

const DIR = join(dirname(fileURLToPath(import.meta.url)), "..");
const SECRET = "s3cr3t-client-secret";

function surface(env = {}) {
  return zoomSetup({ dir: DIR, resolveAccount, env });
}

const FULL = {
  zoomAccountId: "acc-1",
  clientId: "cid-1",
  clientSecret: SECRET,
  subscriptionId: "sub-1",
  sender: "me@example.com",
  allowFrom: "alice@example.com, bob@example.com",
};

test("attribute names follow Commander", () => {
  assert.equal(attributeName("--client-id <id>"), "clientId");
  assert.equal(attributeName("--zoom-account-id <id>"), "zoomAccountId");
  assert.equal(attributeName("--use-env"), "useEnv");
});

test("the plugin object carries setup and onboarding", () => {
  let registered;
  createZoomPlugin().register({ source: join(DIR, "index.js"), registerChannel: (r) => (registered = r.plugin), registerHttpRoute() {}, config: {} });
  assert.equal(typeof registered.setup.applyAccountConfig, "function");
  assert.equal(typeof registered.setup.validateInput, "function");
  assert.equal(typeof registered.onboarding.configure, "function");
  assert.equal(registered.setupWizard, registered.onboarding, "OpenClaw's setupWizard takes the same adapter");
});

test("plugin-owned flags write a complete channels.zoom block with a generated password", () => {
  const { setup } = surface();
  const cfg = { gateway: { mode: "local" } };
  assert.equal(setup.validateInput({ cfg, accountId: undefined, input: FULL }), null);
  const next = setup.applyAccountConfig({ cfg, accountId: "default", input: FULL });
  const zoom = next.channels.zoom;
  assert.equal(next.gateway.mode, "local", "the rest of the config is kept");
  assert.equal(zoom.enabled, true);
  assert.equal(zoom.zoomAccountId, "acc-1");
  assert.equal(zoom.clientId, "cid-1");
  assert.equal(zoom.clientSecret, SECRET);
  assert.equal(zoom.subscriptionId, "sub-1");
  assert.equal(zoom.sender, "me@example.com");
  assert.deepEqual(zoom.allowFrom, ["alice@example.com", "bob@example.com"]);
  const defaultKey = "defaultTo" in zoom ? "defaultTo" : "defaultTarget";
  assert.equal(zoom[defaultKey], "me@example.com", "meeting replies default to the sender");
  assert.match(zoom.password, /^[A-Za-z0-9_-]{32}$/);
  assert.equal(resolveAccount(next, "default").configured, true);
  // a second add keeps the password and an explicit one replaces it
  const again = setup.applyAccountConfig({ cfg: next, accountId: "default", input: { clientId: "cid-2" } });
  assert.equal(again.channels.zoom.password, zoom.password);
  assert.equal(again.channels.zoom.clientId, "cid-2");
  const explicit = setup.applyAccountConfig({ cfg: next, accountId: "default", input: { password: "chosen" } });
  assert.equal(explicit.channels.zoom.password, "chosen");
  // two generated passwords differ
  const other = setup.applyAccountConfig({ cfg, accountId: "default", input: FULL });
  assert.notEqual(other.channels.zoom.password, zoom.password);
});

test("a named account goes under accounts.<id>", () => {
  const { setup } = surface();
  const next = setup.applyAccountConfig({ cfg: {}, accountId: "work", input: { ...FULL, name: "Work" } });
  assert.equal(next.channels.zoom.accounts.work.clientId, "cid-1");
  assert.equal(next.channels.zoom.accounts.work.name, "Work");
  assert.equal(next.channels.zoom.clientId, undefined);
  assert.equal(setup.resolveAccountId({ accountId: " work " }), "work");
  assert.equal(setup.resolveAccountId({ accountId: undefined }), "default");
});

test("Clawdbot's shared flags: --use-env, --user-id, --dm-allowlist, --webhook-path", () => {
  const env = { ZOOM_ACCOUNT_ID: "a", ZOOM_CLIENT_ID: "c", ZOOM_CLIENT_SECRET: SECRET, ZOOM_SUBSCRIPTION_ID: "s" };
  const { setup } = surface(env);
  const input = { useEnv: true, userId: "me@example.com", dmAllowlist: ["alice@example.com"], webhookPath: "/zoom-in" };
  assert.equal(setup.validateInput({ cfg: {}, accountId: "default", input }), null);
  const zoom = setup.applyAccountConfig({ cfg: {}, accountId: "default", input }).channels.zoom;
  assert.equal(zoom.clientSecret, "${ZOOM_CLIENT_SECRET}", "a reference, not the secret");
  assert.equal(zoom.zoomAccountId, "${ZOOM_ACCOUNT_ID}");
  assert.equal(zoom.sender, "me@example.com");
  assert.deepEqual(zoom.allowFrom, ["alice@example.com"]);
  const pathKey = "webhookPath" in zoom ? "webhookPath" : "inboundPath";
  assert.equal(zoom[pathKey], "/zoom-in");
  assert.ok(!JSON.stringify(zoom).includes(SECRET));
});

test("missing credentials: the error names keys and flags, never a secret", () => {
  const { setup } = surface({});
  const err = setup.validateInput({ cfg: {}, accountId: "default", input: { clientSecret: SECRET, sender: "me@example.com" } });
  assert.match(err, /zoomAccountId, clientId, subscriptionId/);
  assert.match(err, /--zoom-account-id, --client-id, --subscription-id/);
  assert.match(err, /--use-env/);
  assert.ok(!err.includes(SECRET));
  const env = setup.validateInput({ cfg: {}, accountId: "default", input: { useEnv: true } });
  assert.match(env, /ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID, ZOOM_CLIENT_SECRET, ZOOM_SUBSCRIPTION_ID/);
  assert.match(setup.validateInput({ cfg: {}, accountId: "default", input: { ...FULL, dmPolicy: "everyone" } }), /--dm-policy must be/);
  assert.throws(() => setup.applyAccountConfig({ cfg: {}, accountId: "default", input: { useEnv: true } }), /ZOOM_CLIENT_ID/);
});

test("existing keys count: adding only what is missing validates", () => {
  const { setup } = surface();
  const cfg = { channels: { zoom: { ...FULL, allowFrom: ["alice@example.com"], clientSecret: undefined } } };
  assert.equal(setup.validateInput({ cfg, accountId: "default", input: { clientSecret: SECRET } }), null);
});

/** A scripted prompter: answers in order, records what was asked. */
function prompter(answers) {
  const asked = [];
  const next = (kind, params) => {
    asked.push([kind, params.message]);
    if (!answers.length) throw new Error(`unexpected ${kind}: ${params.message}`);
    return answers.shift();
  };
  return {
    asked,
    note: async (message) => asked.push(["note", message]),
    text: async (p) => {
      const value = next("text", p);
      if (value === SECRET) assert.equal(p.sensitive, true, "the secret prompt is masked");
      assert.equal(p.validate?.(value), undefined, `${p.message}: ${value} rejected`);
      return value;
    },
    confirm: async (p) => next("confirm", p),
  };
}

test("interactive onboarding prompts for the app, writes the block, never echoes the secret", async () => {
  const { onboarding } = surface();
  const before = await onboarding.getStatus({ cfg: {} });
  assert.equal(before.configured, false);
  const p = prompter(["acc-1", "cid-1", SECRET, "sub-1", "me@example.com", "alice@example.com"]);
  const { cfg, accountId } = await onboarding.configure({ cfg: {}, prompter: p, accountOverrides: {} });
  assert.equal(accountId, "default");
  assert.equal(cfg.channels.zoom.clientSecret, SECRET);
  assert.match(cfg.channels.zoom.password, /^[A-Za-z0-9_-]{32}$/);
  assert.ok(!JSON.stringify(p.asked).includes(SECRET));
  assert.ok(!JSON.stringify(p.asked).includes(cfg.channels.zoom.password));
  assert.equal((await onboarding.getStatus({ cfg })).configured, true);
  assert.equal(p.asked.filter(([k]) => k === "text").length, 6);

  // run again: every set key is offered to keep (the secret without its value)
  const again = prompter([true, true, true, true, true, true]);
  const kept = await onboarding.configure({ cfg, prompter: again, accountOverrides: {} });
  assert.equal(kept.cfg.channels.zoom.password, cfg.channels.zoom.password);
  assert.ok(!JSON.stringify(again.asked).includes(SECRET));
  assert.equal(onboarding.dmPolicy.setPolicy(cfg, "open").channels.zoom.dmPolicy, "open");
  assert.equal(onboarding.disable(cfg).channels.zoom.enabled, false);
});

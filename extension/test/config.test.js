import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import plugin, { createZoomPlugin, normalizeTarget, readChannelMeta, resolveAccount } from "../index.js";
import { baseConfig, fakeApi } from "./helpers.js";

const EXT_DIR = dirname(dirname(fileURLToPath(import.meta.url)));

function registered(config, options = {}) {
  const fake = fakeApi({ config, source: join(EXT_DIR, "index.js") });
  const result = createZoomPlugin(options).register(fake.api);
  return { ...fake, result, channel: fake.channels[0] };
}

test("default export has the plugin identity", () => {
  assert.equal(plugin.id, "zoom");
  assert.equal(plugin.name, "Zoom");
  assert.equal(typeof plugin.description, "string");
  assert.equal(typeof plugin.register, "function");
});

test("register is synchronous and side-effect free", () => {
  let spawned = 0;
  let fetched = 0;
  const realFetch = globalThis.fetch;
  globalThis.fetch = () => {
    fetched += 1;
    throw new Error("no network in register");
  };
  try {
    const { result, channels, routes } = registered(baseConfig({ inboundPath: "/custom" }), {
      spawn: () => {
        spawned += 1;
      },
    });
    const viaDefault = fakeApi({ config: baseConfig() });
    assert.equal(plugin.register(viaDefault.api), undefined);
    assert.equal(result, undefined, "register must not return a promise");
    assert.equal(spawned, 0);
    assert.equal(fetched, 0);
    assert.equal(channels.length, 1);
    assert.deepEqual(
      routes.map((r) => [r.path, r.auth, r.match]).sort(),
      [
        ["/custom", "plugin", "exact"],
        ["/zoom-webhook", "plugin", "exact"],
      ],
    );
  } finally {
    globalThis.fetch = realFetch;
  }
});

test("channel shape: meta from package.json, capabilities, reload, outbound", () => {
  const { channel } = registered(baseConfig());
  const pkg = JSON.parse(readFileSync(join(EXT_DIR, "package.json"), "utf8"));
  assert.equal(channel.id, "zoom");
  assert.deepEqual(channel.meta, pkg.moltbot.channel);
  assert.deepEqual(channel.capabilities, {
    chatTypes: ["direct", "group", "channel"],
    threads: true,
    reply: true,
    media: true,
    reactions: true,
    edit: true,
  });
  assert.deepEqual(channel.reload, { configPrefixes: ["channels.zoom"] });
  assert.equal(channel.outbound.deliveryMode, "direct");
  assert.equal(channel.outbound.textChunkLimit, 4000);
  assert.equal(typeof channel.outbound.sendText, "function");
  assert.equal(typeof channel.outbound.sendMedia, "function");
  assert.equal(typeof channel.gateway.startAccount, "function");
});

test("meta falls back when package.json is missing or broken", () => {
  const dir = mkdtempSync(join(tmpdir(), "zoom-meta-"));
  const fallback = readChannelMeta(dir);
  assert.equal(fallback.id, "zoom");
  assert.equal(fallback.label, "Zoom");
  assert.equal(fallback.docsPath, "/channels/zoom");
  writeFileSync(join(dir, "package.json"), "{not json");
  assert.deepEqual(readChannelMeta(dir), fallback);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ openclaw: { channel: { label: "Zoom X" } } }));
  assert.equal(readChannelMeta(dir).label, "Zoom X");
  assert.equal(readChannelMeta(dir).docsPath, "/channels/zoom");
});

test("listAccountIds / defaultAccountId", () => {
  const { channel } = registered(baseConfig());
  const c = channel.config;
  assert.deepEqual(c.listAccountIds({}), []);
  assert.deepEqual(c.listAccountIds(baseConfig()), ["default"]);
  const multi = baseConfig({ accounts: { work: { sender: "w@corp.example" }, home: {} } });
  assert.deepEqual(c.listAccountIds(multi), ["work", "home"]);
  assert.equal(c.defaultAccountId(multi), "work");
  assert.equal(c.defaultAccountId(baseConfig({ accounts: { x: {}, default: {} } })), "default");
  assert.equal(c.defaultAccountId(baseConfig()), "default");
});

test("resolveAccount merges the top level with accounts.<id>", () => {
  const cfg = baseConfig({
    listen: "0.0.0.0:18800",
    accounts: { work: { sender: "w@corp.example", listen: "127.0.0.1:18801", name: "Work" }, off: { enabled: false } },
  });
  const work = resolveAccount(cfg, "work");
  assert.equal(work.accountId, "work");
  assert.equal(work.name, "Work");
  assert.equal(work.config.sender, "w@corp.example");
  assert.equal(work.config.clientSecret, "csecret", "inherited from the top level");
  assert.equal(work.config.accounts, undefined);
  assert.equal(work.baseUrl, "http://127.0.0.1:18801");
  assert.equal(work.configured, true);
  assert.equal(work.inboundPath, "/zoom-webhook");
  assert.equal(resolveAccount(cfg, "off").enabled, false);
  assert.equal(resolveAccount(cfg, "default").baseUrl, "http://127.0.0.1:18800", "0.0.0.0 becomes loopback");
  assert.equal(resolveAccount(baseConfig({ sidecarUrl: "http://127.0.0.1:9/" })).baseUrl, "http://127.0.0.1:9");
  assert.equal(resolveAccount(baseConfig({ enabled: false })).enabled, false);
});

test("isConfigured and unconfiguredReason name the missing keys", () => {
  const { channel } = registered(baseConfig());
  const c = channel.config;
  const ok = c.resolveAccount(baseConfig());
  assert.equal(c.isConfigured(ok), true);
  assert.equal(c.unconfiguredReason(ok), undefined);
  assert.equal(c.isEnabled(ok), true);

  const noSecret = c.resolveAccount(baseConfig({ clientSecret: "" }));
  assert.equal(c.isConfigured(noSecret), false);
  assert.equal(c.unconfiguredReason(noSecret), "channels.zoom.clientSecret is required");

  const bare = c.resolveAccount({ channels: { zoom: {} } });
  assert.equal(
    c.unconfiguredReason(bare),
    [
      "channels.zoom.zoomAccountId is required",
      "channels.zoom.clientId is required",
      "channels.zoom.clientSecret is required",
      "channels.zoom.subscriptionId is required",
      "channels.zoom.sender is required",
      "channels.zoom.password is required",
    ].join("; "),
  );
  const attach = c.resolveAccount({ channels: { zoom: { sidecarUrl: "http://127.0.0.1:1" } } });
  assert.equal(c.unconfiguredReason(attach), "channels.zoom.password is required");
  const attachOk = c.resolveAccount({ channels: { zoom: { sidecarUrl: "http://127.0.0.1:1", password: "p" } } });
  assert.equal(c.isConfigured(attachOk), true);

  const variants = c.resolveAccount(
    baseConfig({ grant: "client", zoomAccountId: "", transport: "webhook", sendAs: "chatbot", subscriptionId: "" }),
  );
  assert.equal(
    c.unconfiguredReason(variants),
    "channels.zoom.webhookSecretToken is required; channels.zoom.robotJid is required",
  );
  const account = c.resolveAccount(baseConfig({ accounts: { work: { password: " " } } }), "work");
  assert.equal(c.unconfiguredReason(account), "channels.zoom.accounts.work.password is required");
});

test("describeAccount, allowFrom and DM policy", () => {
  const { channel } = registered(baseConfig());
  const cfg = baseConfig({ allowFrom: ["Zoom:Alice@Corp.Example", " bob-id ", "*"] });
  const account = channel.config.resolveAccount(cfg);
  assert.deepEqual(channel.config.describeAccount(account), {
    accountId: "default",
    name: "default",
    enabled: true,
    configured: true,
    baseUrl: "http://127.0.0.1:18790",
    webhookPath: "/zoom-webhook",
  });
  assert.deepEqual(channel.config.resolveAllowFrom({ cfg }), ["Zoom:Alice@Corp.Example", " bob-id ", "*"]);
  assert.deepEqual(channel.config.formatAllowFrom({ allowFrom: ["Zoom:Alice@Corp.Example", " bob-id ", "", "*"] }), [
    "alice@corp.example",
    "bob-id",
    "*",
  ]);
  const dm = channel.security.resolveDmPolicy({ cfg: baseConfig({ dmPolicy: undefined }), account });
  assert.equal(dm.policy, "allowlist");
  const work = channel.security.resolveDmPolicy({
    cfg: baseConfig({ accounts: { work: { dmPolicy: "open", allowFrom: ["*"] } } }),
    accountId: "work",
  });
  assert.equal(work.policy, "open");
  assert.deepEqual(work.allowFrom, ["*"]);
  assert.equal(work.policyPath, "channels.zoom.accounts.work.dmPolicy");
  assert.equal(work.allowFromPath, "channels.zoom.accounts.work.");
  assert.match(work.approveHint, /allowFrom/);
});

test("target normalisation table", () => {
  const table = [
    ["zoom;-;alice@corp.example", "zoom;-;alice@corp.example"],
    ["zoom;-;Alice@Corp.Example", "zoom;-;alice@corp.example"],
    ["zoom;+;channel:abc123", "zoom;+;channel:abc123"],
    ["zoom;+;meeting:8123", "zoom;+;meeting:8123"],
    ["zoom;+;feed", "zoom;+;feed"],
    ["zoom:zoom;-;bob@corp.example", "zoom;-;bob@corp.example"],
    ["zoom:bob@corp.example", "zoom;-;bob@corp.example"],
    ["chat_guid:zoom;+;channel:x", "zoom;+;channel:x"],
    ["Bob@Corp.Example", "zoom;-;bob@corp.example"],
    ["  carol@corp.example  ", "zoom;-;carol@corp.example"],
    ["channel:abc", "zoom;+;channel:abc"],
    ["zoom:channel:abc", "zoom;+;channel:abc"],
    ["user:KdYKjnimT4KPd8FFgQt9FQ", "zoom;-;KdYKjnimT4KPd8FFgQt9FQ"],
    ["KdYKjnimT4KPd8FFgQt9FQ", "zoom;-;KdYKjnimT4KPd8FFgQt9FQ"],
    ["", undefined],
    ["zoom;-;", undefined],
    ["not a target", undefined],
    ["zoom;x;y", undefined],
  ];
  for (const [raw, expected] of table) assert.equal(normalizeTarget(raw), expected, JSON.stringify(raw));

  const { channel } = registered(baseConfig());
  assert.equal(channel.messaging.normalizeTarget, normalizeTarget);
  const { looksLikeId, hint } = channel.messaging.targetResolver;
  assert.equal(looksLikeId("zoom;+;channel:a"), true);
  assert.equal(looksLikeId("zoom:zoom;-;a@b.c"), true);
  assert.equal(looksLikeId("a@b.c"), true);
  assert.equal(looksLikeId("channel:a"), true);
  assert.equal(looksLikeId("General chat"), false);
  assert.match(hint, /zoom;\+;channel/);
  assert.deepEqual(channel.outbound.resolveTarget({ to: "Bob@Corp.Example" }), { ok: true, to: "zoom;-;bob@corp.example" });
  const bad = channel.outbound.resolveTarget({ to: "not a target" });
  assert.equal(bad.ok, false);
  assert.match(bad.error.message, /invalid Zoom target/);
});

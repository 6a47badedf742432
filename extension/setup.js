// Onboarding for the `zoom` channel: the host's channel setup adapter (`channels add
// --channel zoom` with flags) and the interactive wizard (`channels add` / `onboard`):
// Clawdbot calls it `onboarding` (ChannelOnboardingAdapter), OpenClaw `setupWizard`, which
// also takes that imperative shape (`ChannelSetupWizardAdapter`: channel, getStatus,
// configure, dmPolicy, disable; its dist/setup-wizard-types-*.d.ts).
//
// Flags. Clawdbot's `channels add` has a fixed flag set (its dist/cli/channels-cli.js);
// OpenClaw registers a legacy plugin's `openclaw.channel.cliAddOptions` from package.json
// (generated from the `cli` attribute of plugin.toml keys) next to its compatibility set
// (`--token`, `--password`, `--use-env`, ...; its docs/plugins/manifest/package-json.md).
// So on both: `--use-env` (credentials as `${ZOOM_*}` references), `--password`,
// `--webhook-path`, `--name`; OpenClaw adds the plugin-owned `--client-id`,
// `--client-secret`, `--zoom-account-id`, `--subscription-id`, `--sender`, `--default-to`,
// `--allow-from`, `--dm-policy`; Clawdbot's `--user-id` / `--dm-allowlist` stand for
// `--sender` / `--allow-from`.
//
// Like the host's own channels (Clawdbot extensions/bluebubbles/src/channel.ts `setup`,
// extensions/mattermost/src/channel.ts), the default account is written at the top of
// `channels.zoom`, another one under `channels.zoom.accounts.<id>`. Secrets are never
// logged or echoed.

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const CHANNEL = "zoom";
const DEFAULT_ACCOUNT_ID = "default";
const DOCS = "docs/moltbot-setup.md";

/** Credentials `--use-env` takes from the environment (plugin.toml `env`). */
const ENV_KEYS = {
  zoomAccountId: "ZOOM_ACCOUNT_ID",
  clientId: "ZOOM_CLIENT_ID",
  clientSecret: "ZOOM_CLIENT_SECRET",
  subscriptionId: "ZOOM_SUBSCRIPTION_ID",
};
/** Clawdbot's shared flags that stand in for plugin-owned ones. */
const SHARED_FLAGS = { userId: "sender", dmAllowlist: "allowFrom" };
/** Setup names whose config key has an older spelling in older schemas. */
const OLD_KEYS = { defaultTo: "defaultTarget", webhookPath: "inboundPath" };

function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}

function present(value) {
  return value !== undefined && value !== null && String(value).trim() !== "";
}

/** `--client-id <id>` → `clientId` (Commander's attribute name). */
export function attributeName(flags) {
  const long = /--([a-z0-9-]+)/i.exec(flags)?.[1] ?? "";
  return long.replace(/-([a-z0-9])/g, (_, c) => c.toUpperCase());
}

function splitList(value) {
  if (Array.isArray(value)) return value.map((v) => String(v).trim()).filter(Boolean);
  return String(value)
    .split(/[\n,;]+/)
    .map((v) => v.trim())
    .filter(Boolean);
}

/** A new shim password: 32 URL-safe characters (192 random bits). */
export function generatePassword() {
  return randomBytes(24).toString("base64url");
}

/**
 * The setup surface (`setup`, `onboarding` for Clawdbot, `setupWizard` for OpenClaw), reading its field list from the generated package.json and manifest
 * in `dir`. `resolveAccount` is index.js's.
 */
export function zoomSetup({ dir, resolveAccount, env = process.env }) {
  const pkg = readJson(join(dir, "package.json"));
  const options = pkg?.openclaw?.channel?.cliAddOptions ?? [];
  const manifest = readJson(join(dir, "openclaw.plugin.json"));
  const schemaKeys = new Set(Object.keys(manifest?.channelConfigs?.[CHANNEL]?.schema?.properties ?? {}));
  const dmPolicyDefault = manifest?.channelConfigs?.[CHANNEL]?.schema?.properties?.dmPolicy?.default ?? "allowlist";
  const flagOf = new Map(options.map((o) => [attributeName(o.flags), o.flags.split(" ")[0]]));

  /** The config key a setup field writes (the new name when the schema has it). */
  function keyFor(field) {
    if (schemaKeys.size === 0 || schemaKeys.has(field)) return field;
    return OLD_KEYS[field] && schemaKeys.has(OLD_KEYS[field]) ? OLD_KEYS[field] : field;
  }

  function accountId(raw) {
    return present(raw) ? String(raw).trim() : DEFAULT_ACCOUNT_ID;
  }

  function section(cfg, id) {
    const zoom = cfg?.channels?.[CHANNEL] ?? {};
    return id === DEFAULT_ACCOUNT_ID ? zoom : (zoom.accounts?.[id] ?? {});
  }

  function withSection(cfg, id, patch) {
    const zoom = cfg?.channels?.[CHANNEL] ?? {};
    const next =
      id === DEFAULT_ACCOUNT_ID
        ? { ...zoom, ...patch }
        : { ...zoom, accounts: { ...zoom.accounts, [id]: { ...zoom.accounts?.[id], ...patch } } };
    return { ...cfg, channels: { ...cfg?.channels, [CHANNEL]: next } };
  }

  /** The `channels.zoom` patch for `input`; `{ error }` when it cannot be built. */
  function patchFor(cfg, id, input = {}) {
    const existing = section(cfg, id);
    const patch = { enabled: true };
    for (const [field, flag] of flagOf) {
      const value = input[field];
      if (!present(value) && !(Array.isArray(value) && value.length)) continue;
      patch[keyFor(field)] = /--allow-from/.test(flag) ? splitList(value) : String(value).trim();
    }
    for (const [shared, field] of Object.entries(SHARED_FLAGS)) {
      if (present(input[shared]) && patch[keyFor(field)] === undefined) {
        patch[keyFor(field)] = field === "allowFrom" ? splitList(input[shared]) : String(input[shared]).trim();
      }
    }
    if (input.useEnv === true) {
      const missing = Object.entries(ENV_KEYS).filter(([key, name]) => patch[key] === undefined && !present(env[name]));
      if (missing.length) {
        return { error: `Zoom --use-env needs ${missing.map(([, name]) => name).join(", ")} in the environment.` };
      }
      for (const [key, name] of Object.entries(ENV_KEYS)) patch[key] ??= `\${${name}}`;
    }
    if (present(input.webhookPath)) patch[keyFor("webhookPath")] = String(input.webhookPath).trim();
    if (present(input.name)) patch.name = String(input.name).trim();
    const sender = patch.sender ?? existing.sender;
    const defaultKey = keyFor("defaultTo");
    if (patch[defaultKey] === undefined && !present(existing[defaultKey]) && present(sender)) patch[defaultKey] = sender;
    if (present(input.password)) patch.password = String(input.password);
    else if (!present(existing.password)) patch.password = generatePassword();
    if (patch.dmPolicy !== undefined && !["pairing", "allowlist", "open", "disabled"].includes(patch.dmPolicy)) {
      return { error: `Zoom --dm-policy must be pairing, allowlist, open or disabled (got "${patch.dmPolicy}").` };
    }
    return { patch };
  }

  function flagsFor(keys) {
    return keys.map((key) => flagOf.get(key) ?? `channels.zoom.${key}`).join(", ");
  }

  const setup = {
    resolveAccountId: ({ accountId: raw }) => accountId(raw),
    applyAccountName: ({ cfg, accountId: raw, name }) =>
      present(name) ? withSection(cfg, accountId(raw), { name: String(name).trim() }) : cfg,
    validateInput: ({ cfg, accountId: raw, input }) => {
      const id = accountId(raw);
      const { patch, error } = patchFor(cfg, id, input);
      if (error) return error;
      const next = withSection(cfg, id, patch);
      // `${VAR}` references count as set: the host substitutes them when it loads the config.
      const missing = resolveAccount(next, id).missing.filter((key) => key !== "password");
      if (!missing.length) return null;
      return `Zoom needs ${missing.join(", ")}: pass ${flagsFor(missing)} (OpenClaw), or --use-env with ${Object.values(ENV_KEYS).join(", ")} set (both hosts). See ${DOCS}.`;
    },
    applyAccountConfig: ({ cfg, accountId: raw, input }) => {
      const id = accountId(raw);
      const { patch, error } = patchFor(cfg, id, input);
      if (error) throw new Error(error);
      return withSection(cfg, id, patch);
    },
  };

  /** The interactive adapter (`channels add` wizard, `onboard`). */
  const onboarding = {
    channel: CHANNEL,
    getStatus: async ({ cfg }) => {
      const configured = Object.keys({ [DEFAULT_ACCOUNT_ID]: 1, ...cfg?.channels?.[CHANNEL]?.accounts }).some(
        (id) => cfg?.channels?.[CHANNEL] && resolveAccount(cfg, id).configured,
      );
      return {
        channel: CHANNEL,
        configured,
        statusLines: [`Zoom: ${configured ? "configured" : "needs a Server-to-Server OAuth app"}`],
        selectionHint: configured ? "configured" : "meetings + Team Chat via the moltbot-zoom sidecar",
        quickstartScore: configured ? 1 : 0,
      };
    },
    configure: async ({ cfg, prompter, accountOverrides = {} }) => {
      const id = accountId(accountOverrides[CHANNEL]);
      const existing = section(cfg, id);
      await prompter.note(
        [
          "Create a Server-to-Server OAuth app in the Zoom App Marketplace with a WebSocket event subscription, then enter its credentials (docs/zoom-setup.md).",
          `Docs: ${DOCS}`,
        ].join("\n"),
        "Zoom app",
      );
      const input = {};
      const ask = async (field, message, { secret = false, required = true, placeholder } = {}) => {
        const key = keyFor(field);
        if (present(existing[key])) {
          const keep = await prompter.confirm({ message: `${message} already set${secret ? "" : ` (${existing[key]})`}. Keep it?`, initialValue: true });
          if (keep) return;
        }
        const value = await prompter.text({
          message,
          placeholder,
          sensitive: secret || undefined,
          validate: (v) => (required && !present(v) ? "Required" : undefined),
        });
        if (present(value)) input[field] = String(value).trim();
      };
      await ask("zoomAccountId", "Zoom account ID");
      await ask("clientId", "Client ID");
      await ask("clientSecret", "Client secret", { secret: true });
      await ask("subscriptionId", "Event subscription ID");
      await ask("sender", "Team Chat user the replies are posted as (email)", { placeholder: "you@example.com" });
      await ask("allowFrom", "Team Chat senders the agent answers (comma-separated emails)", { required: false });
      const { patch, error } = patchFor(cfg, id, input);
      if (error) throw new Error(error);
      await prompter.note(
        `Shim password ${patch.password ? "generated" : "kept"}; replies to meeting events go to ${patch[keyFor("defaultTo")] ?? existing[keyFor("defaultTo")] ?? "(set defaultTo)"}.`,
        "Zoom",
      );
      return { cfg: withSection(cfg, id, patch), accountId: id };
    },
    dmPolicy: {
      label: "Zoom",
      channel: CHANNEL,
      policyKey: `channels.${CHANNEL}.dmPolicy`,
      allowFromKey: `channels.${CHANNEL}.allowFrom`,
      getCurrent: (cfg) => cfg?.channels?.[CHANNEL]?.dmPolicy ?? dmPolicyDefault,
      setPolicy: (cfg, policy) => withSection(cfg, DEFAULT_ACCOUNT_ID, { dmPolicy: policy }),
    },
    disable: (cfg) => withSection(cfg, DEFAULT_ACCOUNT_ID, { enabled: false }),
  };

  return { setup, onboarding, setupWizard: onboarding };
}

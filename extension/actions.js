// The channel's message actions for the agent: react, edit and unsend, passed to the
// sidecar's BlueBubbles routes (`message/react`, `message/:guid/edit`,
// `message/:guid/unsend`), which call Zoom's emoji-reaction, update and delete APIs.

/** The actions the Zoom channel supports. */
export const ZOOM_ACTIONS = ["react", "edit", "unsend"];

function str(params, ...names) {
  for (const name of names) {
    const v = params?.[name];
    if (typeof v === "string" && v.trim()) return v.trim();
    if (typeof v === "number") return String(v);
  }
  return undefined;
}

function result(payload) {
  return { content: [{ type: "text", text: JSON.stringify(payload) }], details: payload };
}

/**
 * The `actions` adapter. `request(account, method, path, body)` calls the sidecar;
 * `accountOf(cfg, accountId)` resolves the account; `normalizeTarget` maps a target to a
 * chat GUID.
 */
export function zoomMessageActions({ request, accountOf, normalizeTarget }) {
  return {
    // Clawdbot / Moltbot list a channel's actions with listActions; OpenClaw with
    // describeMessageTool (without it, its message tool offers only `send`).
    listActions: () => [...ZOOM_ACTIONS],
    describeMessageTool: () => ({ actions: [...ZOOM_ACTIONS] }),
    supportsAction: ({ action }) => ZOOM_ACTIONS.includes(action),
    handleAction: async ({ action, params = {}, cfg, accountId, toolContext }) => {
      const account = accountOf(cfg, accountId);
      const messageId = str(params, "messageId", "message_id", "guid");
      if (!messageId) throw new Error(`Zoom ${action} requires messageId (the message to act on)`);
      const guid = encodeURIComponent(messageId);
      if (action === "react") {
        const raw = str(params, "chatGuid", "to") ?? toolContext?.currentChannelId;
        const chatGuid = raw ? normalizeTarget(raw) : undefined;
        if (!chatGuid) throw new Error("Zoom react requires the chat (chatGuid or to)");
        const emoji = str(params, "emoji", "reaction");
        const remove = params.remove === true || params.remove === "true";
        if (!emoji) throw new Error("Zoom react requires emoji (an emoji or love, like, dislike, laugh, emphasize, question)");
        await request(account, "POST", "/api/v1/message/react", {
          chatGuid,
          selectedMessageGuid: messageId,
          reaction: remove ? `-${emoji}` : emoji,
          partIndex: 0,
        });
        return result(remove ? { ok: true, removed: emoji } : { ok: true, added: emoji });
      }
      if (action === "edit") {
        const text = str(params, "text", "newText", "message");
        if (!text) throw new Error("Zoom edit requires text (the new message content)");
        await request(account, "POST", `/api/v1/message/${guid}/edit`, {
          editedMessage: text,
          backwardsCompatibilityMessage: `Edited to: ${text}`,
          partIndex: 0,
        });
        return result({ ok: true, edited: messageId });
      }
      if (action === "unsend") {
        await request(account, "POST", `/api/v1/message/${guid}/unsend`, { partIndex: 0 });
        return result({ ok: true, unsent: messageId });
      }
      throw new Error(`Zoom does not support the ${action} action`);
    },
  };
}

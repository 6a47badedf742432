// Files both ways between the host and the sidecar. Inbound: a BlueBubbles
// message's `attachments[]` are fetched from the sidecar's
// `GET /api/v1/attachment/:guid/download` and saved in the host's media store, then
// handed to the agent as the context's `MediaPath(s)` / `MediaType(s)`. Outbound: a
// reply's file (buffer, local path or URL) goes to `POST /api/v1/message/attachment`.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Default cap on one inbound file, in MB (the sidecar's `mediaMaxMb` default). */
export const DEFAULT_MEDIA_MAX_MB = 8;
/** Upload timeout, as Moltbot's BlueBubbles client uses for attachments. */
export const UPLOAD_TIMEOUT_MS = 60_000;
const DOWNLOAD_TIMEOUT_MS = 30_000;

/** The usable entries of a BlueBubbles message's `attachments[]`. */
export function attachmentsOf(data) {
  const list = Array.isArray(data?.attachments) ? data.attachments : [];
  return list
    .filter((a) => a && typeof a.guid === "string" && a.guid)
    .map((a) => ({
      guid: a.guid,
      name: typeof a.transferName === "string" && a.transferName ? a.transferName : a.guid,
      mimeType: typeof a.mimeType === "string" && a.mimeType ? a.mimeType : undefined,
      totalBytes: Number(a.totalBytes) > 0 ? Number(a.totalBytes) : 0,
    }));
}

/** The sidecar URL of `path`, carrying the shim password (`?password=`). */
export function sidecarUrl(account, path) {
  const url = new URL(account.baseUrl + path);
  url.searchParams.set("password", String(account.config.password ?? "").trim());
  return url;
}

/** The shim password as a Bearer header. */
export function authHeaders(account) {
  return { authorization: `Bearer ${String(account.config.password ?? "").trim()}` };
}

/** One attachment's bytes from the sidecar, at most `maxBytes`. */
export async function downloadAttachment(fetchImpl, account, attachment, maxBytes) {
  const path = `/api/v1/attachment/${encodeURIComponent(attachment.guid)}/download`;
  let res;
  try {
    res = await fetchImpl(sidecarUrl(account, path), {
      headers: authHeaders(account),
      signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS),
    });
  } catch (err) {
    // The URL carries the password: name only the path.
    throw new Error(`Zoom sidecar ${path} unreachable: ${err?.message ?? err}`);
  }
  if (!res.ok) throw new Error(`Zoom sidecar ${path} failed (${res.status})`);
  const buffer = Buffer.from(await res.arrayBuffer());
  if (buffer.length > maxBytes) throw new Error(`${attachment.name} is larger than ${maxBytes} bytes`);
  const type = res.headers.get("content-type") ?? attachment.mimeType;
  return { buffer, contentType: type && !type.startsWith("application/octet-stream") ? type : attachment.mimeType };
}

/**
 * Fetches `attachments` and saves them with `save` (the host's
 * `channel.media.saveMediaBuffer`), else under `fallbackDir`. Returns
 * `[{path, type, name}]`; a file that cannot be fetched is logged and skipped.
 */
export async function fetchInboundMedia({ fetchImpl, account, attachments, maxBytes, save, fallbackDir, log }) {
  const media = [];
  for (const a of attachments) {
    if (a.totalBytes > maxBytes) {
      log?.(`attachment ${a.name} (${a.totalBytes} bytes) is over the ${maxBytes}-byte limit; not passed on`);
      continue;
    }
    try {
      const { buffer, contentType } = await downloadAttachment(fetchImpl, account, a, maxBytes);
      let saved;
      if (typeof save === "function") {
        saved = await save(buffer, contentType, "inbound", maxBytes, a.name);
      } else {
        const dir = join(fallbackDir, a.guid);
        await mkdir(dir, { recursive: true });
        const path = join(dir, basename(a.name) || "file");
        await writeFile(path, buffer);
        saved = { path, contentType };
      }
      media.push({ path: saved.path, type: saved.contentType ?? contentType, name: a.name });
    } catch (err) {
      log?.(`attachment ${a.name} not fetched: ${err?.message ?? err}`);
    }
  }
  return media;
}

/** The inbound context's media fields for `media` (none when empty). */
export function mediaFields(media) {
  if (!media?.length) return {};
  const paths = media.map((m) => m.path);
  const types = media.map((m) => m.type).filter(Boolean);
  return {
    MediaPath: paths[0],
    MediaPaths: paths,
    MediaUrl: paths[0],
    MediaUrls: paths,
    MediaType: types[0],
    MediaTypes: types.length ? types : undefined,
  };
}

const HTTP_URL = /^https?:\/\//i;

/**
 * The file of a `sendMedia` call: its buffer, a local path / `file://` URL, or an
 * http(s) URL fetched with the host's `fetchRemoteMedia`. Undefined for a URL the
 * host cannot fetch (the caller sends it as a link).
 */
export async function loadOutboundMedia(ctx, hostMedia) {
  const source = ctx.mediaPath ?? ctx.mediaUrl;
  const nameOf = (s) => {
    try {
      return basename(HTTP_URL.test(s) ? new URL(s).pathname : s.startsWith("file://") ? fileURLToPath(s) : s);
    } catch {
      return undefined;
    }
  };
  if (ctx.mediaBuffer) {
    return {
      buffer: Buffer.from(ctx.mediaBuffer),
      name: ctx.filename ?? (source && nameOf(source)) ?? "file",
      contentType: ctx.contentType,
    };
  }
  if (typeof source !== "string" || !source) return undefined;
  if (HTTP_URL.test(source)) {
    if (typeof hostMedia?.fetchRemoteMedia !== "function") return undefined;
    const fetched = await hostMedia.fetchRemoteMedia({ url: source });
    return {
      buffer: Buffer.from(fetched.buffer),
      name: ctx.filename ?? fetched.fileName ?? nameOf(source) ?? "file",
      contentType: ctx.contentType ?? fetched.contentType,
    };
  }
  const path = source.startsWith("file://") ? fileURLToPath(source) : source;
  return { buffer: await readFile(path), name: ctx.filename ?? basename(path), contentType: ctx.contentType };
}

/** `POST /api/v1/message/attachment` (BlueBubbles' multipart shape); the sidecar's answer. */
export async function uploadAttachment(fetchImpl, account, { chatGuid, file, tempGuid, replyToId }) {
  const path = "/api/v1/message/attachment";
  const form = new FormData();
  form.set("chatGuid", chatGuid);
  form.set("name", file.name);
  form.set("tempGuid", tempGuid);
  form.set("method", "private-api");
  if (replyToId) form.set("selectedMessageGuid", String(replyToId));
  form.set("attachment", new Blob([file.buffer], { type: file.contentType ?? "application/octet-stream" }), file.name);
  let res;
  try {
    res = await fetchImpl(sidecarUrl(account, path), {
      method: "POST",
      headers: { ...authHeaders(account), accept: "application/json" },
      body: form,
      signal: AbortSignal.timeout(UPLOAD_TIMEOUT_MS),
    });
  } catch (err) {
    throw new Error(`Zoom sidecar ${path} at ${account.baseUrl} unreachable: ${err?.message ?? err}`);
  }
  const text = await res.text();
  let body = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    // not JSON
  }
  if (!res.ok) {
    const detail = body?.error?.message ?? body?.message ?? text.slice(0, 500);
    const err = new Error(`Zoom sidecar ${path} failed (${res.status}): ${detail || "no details"}`);
    err.status = res.status;
    throw err;
  }
  return body;
}

/** Whether `url` can be sent as a file here: a local path, or a URL the host can fetch. */
export function canUpload(url, hostMedia) {
  return typeof url === "string" && url !== "" && (!HTTP_URL.test(url) || typeof hostMedia?.fetchRemoteMedia === "function");
}

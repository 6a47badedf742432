// Files both ways through the plugin: inbound attachments are fetched from the
// sidecar's download route and reach the agent's context as MediaPath(s); an
// outbound file goes to message/attachment as BlueBubbles' multipart form.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { createZoomPlugin } from "../index.js";
import { attachmentsOf, mediaFields } from "../media.js";
import { PASSWORD, baseConfig, fakeApi, fakeReq, fakeRes, fakeRuntime, newMessage } from "./helpers.js";

const PNG = Buffer.from("\x89PNG\r\n\x1a\nimage bytes", "latin1");

/** A sidecar stand-in that keeps raw bodies and serves one attachment. */
let sidecar;
before(async () => {
  const requests = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url, "http://x");
      const raw = Buffer.concat(chunks);
      requests.push({ method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, raw });
      if (req.method === "GET" && url.pathname === "/api/v1/attachment/zoom-file-1/download") {
        res.writeHead(200, { "content-type": "image/png" });
        return res.end(PNG);
      }
      if (req.method === "POST" && url.pathname === "/api/v1/message/attachment") {
        const text = raw.toString("latin1");
        if (text.includes('name="name"\r\n\r\ntoo-big.bin')) {
          res.writeHead(400, { "content-type": "application/json" });
          return res.end(JSON.stringify({ status: 400, message: "Bad Request", error: { type: "Validation Error", message: "Maximum file size exceeded: 20971520 (Zoom code 300)" } }));
        }
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(JSON.stringify({ status: 200, message: "Attachment sent!", data: { guid: "zm-file-1" } }));
      }
      if (req.method === "POST" && url.pathname === "/api/v1/message/text") {
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(JSON.stringify({ status: 200, message: "Message sent!", data: { guid: `zm-text-${requests.length}` } }));
      }
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: 404, message: "not found" }));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  sidecar = { url: `http://127.0.0.1:${server.address().port}`, requests, close: () => new Promise((r) => server.close(r)) };
});
after(() => sidecar.close());

function setup({ media, zoom = {} } = {}) {
  const cfg = baseConfig({ sidecarUrl: sidecar.url, ...zoom });
  const { runtime, calls } = fakeRuntime();
  runtime.config = { current: () => cfg };
  if (media) runtime.channel.media = media;
  const fake = fakeApi({ config: { channels: {} }, runtime });
  createZoomPlugin().register(fake.api);
  sidecar.requests.length = 0;
  async function post(body) {
    const res = fakeRes();
    const route = fake.routes.find((r) => r.path === "/zoom-webhook");
    await route.handler(fakeReq({ url: "/zoom-webhook", headers: { authorization: `Bearer ${PASSWORD}` }, body }), res);
    return res;
  }
  return { cfg, calls, post, channel: fake.channels[0] };
}

function withAttachments(attachments, guid = "m-files") {
  const msg = newMessage({ guid, text: "see attached" });
  msg.data.attachments = attachments;
  return msg;
}

test("attachmentsOf keeps BlueBubbles' fields and drops entries without a guid", () => {
  const got = attachmentsOf({
    attachments: [{ guid: "g1", transferName: "a.png", mimeType: "image/png", totalBytes: 5 }, { transferName: "x" }, null],
  });
  assert.deepEqual(got, [{ guid: "g1", name: "a.png", mimeType: "image/png", totalBytes: 5 }]);
  assert.deepEqual(mediaFields([]), {});
});

test("an inbound attachment is downloaded, saved by the host and given to the agent as media", async () => {
  const saved = [];
  const { post, calls } = setup({
    media: {
      saveMediaBuffer: async (buffer, contentType, subdir, maxBytes, name) => {
        saved.push({ buffer, contentType, subdir, maxBytes, name });
        return { path: `/host/media/inbound/${name}`, contentType };
      },
    },
  });
  const res = await post(withAttachments([{ guid: "zoom-file-1", transferName: "pic.png", mimeType: "image/png", totalBytes: PNG.length }]));
  assert.equal(res.statusCode, 200);
  const download = sidecar.requests.find((r) => r.method === "GET");
  assert.equal(download.path, "/api/v1/attachment/zoom-file-1/download");
  assert.equal(download.query.password, PASSWORD);
  assert.equal(download.headers.authorization, `Bearer ${PASSWORD}`);
  assert.equal(saved.length, 1);
  assert.deepEqual(saved[0].buffer, PNG);
  assert.equal(saved[0].contentType, "image/png");
  assert.equal(saved[0].subdir, "inbound");
  assert.equal(saved[0].maxBytes, 8 * 1024 * 1024);
  const ctx = calls.finalizeInboundContext[0];
  assert.equal(ctx.MediaPath, "/host/media/inbound/pic.png");
  assert.deepEqual(ctx.MediaPaths, ["/host/media/inbound/pic.png"]);
  assert.equal(ctx.MediaType, "image/png");
  assert.deepEqual(ctx.MediaTypes, ["image/png"]);
  assert.equal(ctx.RawBody, "see attached");
});

test("without the host's media store the file is kept under the state dir", async () => {
  const { post, calls } = setup();
  await post(withAttachments([{ guid: "zoom-file-1", transferName: "pic.png", mimeType: "image/png", totalBytes: PNG.length }], "m-2"));
  const ctx = calls.finalizeInboundContext[0];
  assert.match(ctx.MediaPath, /zoom-media[/\\]zoom-file-1[/\\]pic\.png$/);
});

test("a file over mediaMaxMb or one the sidecar lacks is left out; the message still runs", async () => {
  const { post, calls } = setup({ zoom: { mediaMaxMb: 1 } });
  const res = await post(
    withAttachments(
      [
        { guid: "zoom-file-big", transferName: "big.bin", totalBytes: 2 * 1024 * 1024 },
        { guid: "zoom-file-gone", transferName: "gone.txt", totalBytes: 3 },
      ],
      "m-3",
    ),
  );
  assert.equal(res.statusCode, 200);
  assert.deepEqual(
    sidecar.requests.filter((r) => r.method === "GET").map((r) => r.path),
    ["/api/v1/attachment/zoom-file-gone/download"],
  );
  const ctx = calls.finalizeInboundContext[0];
  assert.equal(ctx.MediaPath, undefined);
  assert.equal(calls.dispatch.length, 1);
});

test("sendMedia uploads a buffer as BlueBubbles' multipart form, then the caption as text", async () => {
  const { cfg, channel } = setup();
  const result = await channel.outbound.sendMedia({
    cfg,
    to: "channel:chan-1",
    text: "the chart",
    mediaBuffer: PNG,
    filename: "chart.png",
    contentType: "image/png",
    replyToId: "root-1",
  });
  assert.deepEqual(result, { channel: "zoom", messageId: "zm-file-1", chatId: "zoom;+;channel:chan-1" });
  const [upload, caption] = sidecar.requests;
  assert.equal(upload.path, "/api/v1/message/attachment");
  assert.equal(upload.query.password, PASSWORD);
  assert.match(upload.headers["content-type"], /^multipart\/form-data; boundary=/);
  const form = upload.raw.toString("latin1");
  for (const [name, value] of [
    ["chatGuid", "zoom;+;channel:chan-1"],
    ["name", "chart.png"],
    ["method", "private-api"],
    ["selectedMessageGuid", "root-1"],
  ]) {
    assert.ok(form.includes(`name="${name}"\r\n\r\n${value}\r\n`), `${name} in ${form}`);
  }
  assert.match(form, /name="attachment"; filename="chart.png"\r\nContent-Type: image\/png/);
  assert.ok(upload.raw.includes(PNG));
  assert.equal(caption.path, "/api/v1/message/text");
  assert.equal(JSON.parse(caption.raw.toString()).message, "the chart");
});

test("sendMedia reads a local path; Zoom's refusal is a clear error without the password", async () => {
  const { cfg, channel } = setup();
  const dir = mkdtempSync(join(tmpdir(), "zoom-media-"));
  const file = join(dir, "notes.txt");
  writeFileSync(file, "hello");
  await channel.outbound.sendMedia({ cfg, to: "bob@corp.example", mediaUrl: `file://${file}` });
  assert.ok(sidecar.requests[0].raw.toString().includes('filename="notes.txt"'));
  assert.equal(sidecar.requests.length, 1, "no caption, no text");
  const big = join(dir, "too-big.bin");
  writeFileSync(big, "x");
  await assert.rejects(channel.outbound.sendMedia({ cfg, to: "bob@corp.example", mediaPath: big }), (err) => {
    assert.match(err.message, /\(400\): Maximum file size exceeded/);
    assert.equal(err.message.includes(PASSWORD), false);
    return true;
  });
});

// Tests of content.mjs's image helpers: `node --test tests/host/content.test.mjs`.
import assert from "node:assert/strict";
import zlib from "node:zlib";
import { test } from "node:test";
import { imageParts, imageSize, solidPng } from "./content.mjs";

test("solidPng is a PNG whose IDAT inflates to w×h RGB rows and whose CRCs hold", () => {
  const png = solidPng(3, 2, [1, 2, 3]);
  assert.deepEqual(imageSize(png), { type: "png", w: 3, h: 2 });
  // Walk the chunks: every CRC matches, IDAT inflates to 2 rows of filter byte + 3 pixels.
  let i = 8;
  const types = [];
  while (i < png.length) {
    const len = png.readUInt32BE(i);
    const type = png.subarray(i + 4, i + 8).toString("latin1");
    const data = png.subarray(i + 8, i + 8 + len);
    assert.equal(png.readUInt32BE(i + 8 + len), zlib.crc32(png.subarray(i + 4, i + 8 + len)), `${type} CRC`);
    if (type === "IDAT") assert.deepEqual([...zlib.inflateSync(data)], [0, 1, 2, 3, 1, 2, 3, 1, 2, 3, 0, 1, 2, 3, 1, 2, 3, 1, 2, 3]);
    types.push(type);
    i += 12 + len;
  }
  assert.deepEqual(types, ["IHDR", "IDAT", "IEND"]);
});

test("imageSize reads a JPEG's SOF after other segments, and refuses other bytes", () => {
  const jpeg = Buffer.from([
    0xff, 0xd8, // SOI
    0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, // APP0, 2 bytes of payload
    0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 0x0c, 0x00, 0x10, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, // SOF0: 12 high, 16 wide
  ]);
  assert.deepEqual(imageSize(jpeg), { type: "jpeg", w: 16, h: 12 });
  assert.equal(imageSize(Buffer.from("not an image at all, just text")), undefined);
});

test("imageParts decodes Chat Completions image_url and Responses input_image data URLs only", () => {
  const png = solidPng(2, 2, [9, 9, 9]);
  const url = `data:image/png;base64,${png.toString("base64")}`;
  const chat = {
    messages: [
      { role: "system", content: "s" },
      { role: "user", content: [{ type: "text", text: "t" }, { type: "image_url", image_url: { url } }, { type: "image_url", image_url: { url: "https://x/y.png" } }] },
    ],
  };
  const parts = imageParts(chat);
  assert.equal(parts.length, 1);
  assert.equal(parts[0].mime, "image/png");
  assert.equal(parts[0].role, "user");
  assert.ok(parts[0].bytes.equals(png));
  const responses = { input: [{ type: "message", role: "user", content: [{ type: "input_image", image_url: url }] }] };
  assert.ok(imageParts(responses)[0].bytes.equals(png));
  assert.deepEqual(imageParts({ messages: [{ role: "user", content: "text only" }] }), []);
});

// Sidecar output lines reach the gateway log at their own level, without escape codes.
import assert from "node:assert/strict";
import { test } from "node:test";

import { forwardSidecarLine, sidecarLogLine } from "../index.js";

const TS = "2026-11-30T18:02:49.123456Z";

function recorder(methods = ["error", "warn", "info", "debug"]) {
  const calls = [];
  const log = {};
  for (const m of methods) log[m] = (text) => calls.push([m, text]);
  return { log, calls };
}

test("each tracing level goes to its logger method", () => {
  const { log, calls } = recorder();
  for (const level of ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"]) {
    forwardSidecarLine(log, "[zoom] [default]", `${TS}  ${level} something happened`);
  }
  assert.deepEqual(
    calls.map(([m]) => m),
    ["error", "warn", "info", "debug", "debug"],
  );
  assert.equal(calls[0][1], `[zoom] [default] sidecar: ${TS}  ERROR something happened`);
});

test("colour codes are stripped and do not hide the level", () => {
  const coloured = `\u001b[2m${TS}\u001b[0m \u001b[31mERROR\u001b[0m \u001b[1mdelivery\u001b[0m: moved to dead letters`;
  const { level, line } = sidecarLogLine(coloured);
  assert.equal(level, "error");
  assert.equal(line, `${TS} ERROR delivery: moved to dead letters`);
  assert.ok(!line.includes("\u001b"));
  const { log, calls } = recorder();
  forwardSidecarLine(log, "p", `\u001b[2m${TS}\u001b[0m \u001b[33m WARN\u001b[0m slow`);
  assert.deepEqual(calls, [["warn", `p sidecar: ${TS}  WARN slow`]]);
});

test("a level word inside the message does not change the line's level", () => {
  assert.equal(sidecarLogLine(`${TS}  INFO zoom answered ERROR 429, retrying`).level, "info");
  assert.equal(sidecarLogLine(`${TS} DEBUG saw WARN in a payload`).level, "debug");
});

test("lines without a level are tolerated", () => {
  assert.equal(sidecarLogLine("moltbot-zoom listening on http://127.0.0.1:18790").level, "info");
  assert.equal(sidecarLogLine("error: invalid configuration:").level, "error");
  assert.equal(sidecarLogLine("thread 'main' panicked at src/main.rs:1:1:").level, "error");
  assert.equal(sidecarLogLine("warning: something odd").level, "warn");
  assert.equal(sidecarLogLine("  - `clientId` (env ZOOM_CLIENT_ID): is required").level, "info");
  const { log, calls } = recorder();
  forwardSidecarLine(log, "p", "\u001b[0m   ");
  assert.deepEqual(calls, [], "an empty line (escape codes only) is not logged");
});

test("a logger without the level's method falls back to info", () => {
  const { log, calls } = recorder(["info", "warn", "error"]);
  forwardSidecarLine(log, "p", `${TS} DEBUG detail`);
  assert.deepEqual(calls, [["info", `p sidecar: ${TS} DEBUG detail`]]);
  assert.doesNotThrow(() => forwardSidecarLine({}, "p", "x"));
  assert.doesNotThrow(() => forwardSidecarLine(undefined, "p", "x"));
});

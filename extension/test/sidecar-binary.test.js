import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { platformPackageName, resolveSidecarBinary } from "../sidecar-binary.js";

/** An executable file at `path` (dirs created). */
function exe(path) {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, "#!/bin/sh\n");
  chmodSync(path, 0o755);
  return path;
}

function pkg(dir, name, extra = {}) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name, version: "0.1.0", ...extra }));
}

/**
 * A tree like an npm install of the extension: <root>/node_modules/@moltbot-zoom/{zoom,sidecar,
 * sidecar-linux-x64}, plus a PATH dir and a `moltbot-zoom install` copy as asked.
 */
function layout({ platformPkg = true, hoisted = true, installCopy = false, onPath = false } = {}) {
  const root = mkdtempSync(join(tmpdir(), "zoom-bin-"));
  const scope = join(root, "node_modules", "@moltbot-zoom");
  const ext = join(scope, "zoom");
  pkg(ext, "@moltbot-zoom/zoom");
  pkg(join(scope, "sidecar"), "@moltbot-zoom/sidecar", {
    optionalDependencies: { "@moltbot-zoom/sidecar-linux-x64": "0.1.0", "@moltbot-zoom/sidecar-darwin-arm64": "0.1.0" },
  });
  let platformBin;
  if (platformPkg) {
    const dir = hoisted
      ? join(scope, "sidecar-linux-x64")
      : join(scope, "sidecar", "node_modules", "@moltbot-zoom", "sidecar-linux-x64");
    pkg(dir, "@moltbot-zoom/sidecar-linux-x64");
    platformBin = exe(join(dir, "bin", "moltbot-zoom"));
  }
  const copy = installCopy ? exe(join(ext, "bin", "moltbot-zoom")) : undefined;
  const pathDir = join(root, "path-bin");
  mkdirSync(pathDir);
  const onPathBin = onPath ? exe(join(pathDir, "moltbot-zoom")) : undefined;
  const deps = { platform: "linux", arch: "x64", env: { PATH: `/nonexistent:relative/dir:${pathDir}` } };
  return { ext, platformBin, copy, onPathBin, deps };
}

test("platform package name follows process.platform / process.arch", () => {
  assert.equal(platformPackageName("linux", "x64"), "@moltbot-zoom/sidecar-linux-x64");
  assert.equal(platformPackageName("darwin", "arm64"), "@moltbot-zoom/sidecar-darwin-arm64");
  assert.equal(platformPackageName(), `@moltbot-zoom/sidecar-${process.platform}-${process.arch}`);
});

test("an explicit config path wins over everything", () => {
  const t = layout({ installCopy: true, onPath: true });
  const r = resolveSidecarBinary({ configured: " /opt/zoom/moltbot-zoom ", dir: t.ext }, t.deps);
  assert.deepEqual(r, { path: "/opt/zoom/moltbot-zoom", source: "config" });
});

test("the platform package comes before the install copy and PATH", () => {
  const t = layout({ installCopy: true, onPath: true });
  assert.deepEqual(resolveSidecarBinary({ dir: t.ext }, t.deps), { path: t.platformBin, source: "package" });
});

test("a platform package nested under the sidecar package is found too", () => {
  const t = layout({ hoisted: false, onPath: true });
  assert.deepEqual(resolveSidecarBinary({ dir: t.ext }, t.deps), { path: t.platformBin, source: "package" });
});

test("without the platform package: the moltbot-zoom install copy, then sidecar.json, then PATH", () => {
  const copied = layout({ platformPkg: false, installCopy: true, onPath: true });
  assert.deepEqual(resolveSidecarBinary({ dir: copied.ext }, copied.deps), { path: copied.copy, source: "install" });

  const linked = layout({ platformPkg: false, onPath: true });
  const target = exe(join(linked.ext, "..", "elsewhere", "moltbot-zoom"));
  writeFileSync(join(linked.ext, "sidecar.json"), JSON.stringify({ path: target }));
  assert.deepEqual(resolveSidecarBinary({ dir: linked.ext }, linked.deps), { path: target, source: "install" });

  const path = layout({ platformPkg: false, onPath: true });
  assert.deepEqual(resolveSidecarBinary({ dir: path.ext }, path.deps), { path: path.onPathBin, source: "path" });
});

test("a package for another platform does not count", () => {
  const t = layout({ onPath: true });
  const r = resolveSidecarBinary({ dir: t.ext }, { ...t.deps, platform: "darwin", arch: "arm64" });
  assert.deepEqual(r, { path: t.onPathBin, source: "path" });
});

test("none found: the error names the platform, what is missing and the fixes", () => {
  const t = layout({ platformPkg: false });
  assert.throws(
    () => resolveSidecarBinary({ dir: t.ext }, { ...t.deps, platform: "freebsd", arch: "riscv64" }),
    (err) => {
      assert.match(err.message, /for freebsd-riscv64/);
      assert.match(err.message, /@moltbot-zoom\/sidecar-freebsd-riscv64 is not installed/);
      assert.match(err.message, /Prebuilt packages exist for: linux-x64, darwin-arm64/);
      assert.match(err.message, /plugins install @moltbot-zoom\/zoom/);
      assert.match(err.message, /cargo build --release/);
      assert.match(err.message, /channels\.zoom\.sidecarPath/);
      return true;
    },
  );
});

test("an installed platform package without its binary is reported as such", () => {
  const t = layout();
  chmodSync(t.platformBin, 0o644);
  assert.throws(() => resolveSidecarBinary({ dir: t.ext }, t.deps), /sidecar-linux-x64 is installed but has no executable bin\/moltbot-zoom/);
});

// Where the moltbot-zoom sidecar binary comes from.
//
// An npm install of the extension (`clawdbot plugins install @moltbot-zoom/zoom`,
// `openclaw plugins install @moltbot-zoom/zoom`) brings it prebuilt: the extension depends
// on @moltbot-zoom/sidecar, whose optional dependency for this platform
// (@moltbot-zoom/sidecar-<platform>-<arch>, selected by npm through its `os` / `cpu`
// fields, no install script) holds `bin/moltbot-zoom`. A source build puts it next to the
// extension instead (`moltbot-zoom install`: `bin/moltbot-zoom`, or `sidecar.json` in link
// mode). Order: explicit config path, platform package, the `moltbot-zoom install` copy,
// then PATH.

import { accessSync, constants, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { delimiter, dirname, isAbsolute, join } from "node:path";

export const SIDECAR_PACKAGE = "@moltbot-zoom/sidecar";
export const BINARY_NAME = "moltbot-zoom";

/** The per-platform package npm installs on `platform` / `arch` (process.platform / process.arch). */
export function platformPackageName(platform = process.platform, arch = process.arch) {
  return `${SIDECAR_PACKAGE}-${platform}-${arch}`;
}

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}

/** `<name>/package.json` resolved the way Node resolves it from `fromDir`, else undefined. */
function resolvePackageJson(name, fromDir) {
  try {
    return createRequire(join(fromDir, "package.json")).resolve(`${name}/package.json`);
  } catch {
    return undefined;
  }
}

/**
 * The sidecar binary to run: `{ path, source }` with source "config", "package",
 * "install" or "path". Throws an Error naming the platform and the fixes when there is
 * none. `deps` exist for tests: `platform`, `arch`, `env`, `isExecutable(path)`,
 * `resolvePackageJson(name, fromDir)`.
 */
export function resolveSidecarBinary({ configured, dir }, deps = {}) {
  const platform = deps.platform ?? process.platform;
  const arch = deps.arch ?? process.arch;
  const env = deps.env ?? process.env;
  const executable = deps.isExecutable ?? isExecutable;
  const resolve = deps.resolvePackageJson ?? resolvePackageJson;

  if (typeof configured === "string" && configured.trim()) {
    return { path: configured.trim(), source: "config" };
  }

  const pkg = platformPackageName(platform, arch);
  // Hoisted next to (or above) the extension, else nested under the sidecar package.
  let pkgJson = resolve(pkg, dir);
  const sidecarJson = resolve(SIDECAR_PACKAGE, dir);
  if (!pkgJson && sidecarJson) pkgJson = resolve(pkg, dirname(sidecarJson));
  if (pkgJson) {
    const candidate = join(dirname(pkgJson), "bin", BINARY_NAME);
    if (executable(candidate)) return { path: candidate, source: "package" };
  }

  const linked = readJson(join(dir, "sidecar.json"))?.path;
  if (typeof linked === "string" && linked && executable(linked)) return { path: linked, source: "install" };
  const copied = join(dir, "bin", BINARY_NAME);
  if (executable(copied)) return { path: copied, source: "install" };

  for (const entry of String(env.PATH ?? "").split(delimiter)) {
    if (!entry || !isAbsolute(entry)) continue;
    const candidate = join(entry, BINARY_NAME);
    if (executable(candidate)) return { path: candidate, source: "path" };
  }

  const offered = sidecarJson ? Object.keys(readJson(sidecarJson)?.optionalDependencies ?? {}) : [];
  const supported = offered.length
    ? ` Prebuilt packages exist for: ${offered.map((n) => n.slice(SIDECAR_PACKAGE.length + 1)).join(", ")}.`
    : "";
  const why = pkgJson
    ? `${pkg} is installed but has no executable bin/${BINARY_NAME}`
    : `${pkg} is not installed${sidecarJson ? "" : ` (nor is ${SIDECAR_PACKAGE})`}`;
  throw new Error(
    `no ${BINARY_NAME} sidecar binary for ${platform}-${arch}: ${why}, there is no ${BINARY_NAME} next to the extension (${dir}) and none on PATH.${supported} ` +
      `Fix: reinstall the plugin with optional dependencies enabled (clawdbot|openclaw plugins install @moltbot-zoom/zoom; npm must not run with --omit=optional), ` +
      `or build it from source (cargo build --release, then target/release/${BINARY_NAME} install), ` +
      `or set channels.zoom.sidecarPath to a ${BINARY_NAME} binary.`,
  );
}

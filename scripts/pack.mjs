#!/usr/bin/env node
// Packs the npm packages of the Zoom channel into a dist dir (default target/npm):
//
//   @moltbot-zoom/zoom                 the extension (extension/, its package.json `files`)
//   @moltbot-zoom/sidecar              depends on the per-target packages (optional)
//   @moltbot-zoom/sidecar-<os>-<cpu>   the release sidecar binary, bin/moltbot-zoom
//
//   node scripts/pack.mjs [--out DIR] [--target TRIPLE]... [--bin FILE]
//
// The package.json files are generated from plugin.toml (MOLTBOT_ZOOM_BLESS=1 cargo test -p
// moltbot-zoom extension); a target is packed when npm/<package>/package.json names its
// triple in `moltbotZoom.rustTarget`. Without --target the host's triple (`rustc -vV`) is
// packed. The sidecar is built with `cargo build --release -p moltbot-zoom
// --no-default-features` (no fake Zoom); `--bin FILE` packs FILE instead (one target only).
// Prints one line per package: file, packed size, unpacked size; the last line is the dist dir.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function usage(message) {
  if (message) console.error(`pack.mjs: ${message}`);
  console.error("usage: node scripts/pack.mjs [--out DIR] [--target TRIPLE]... [--bin FILE]");
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { out: path.join(REPO, "target/npm"), targets: [], bin: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => argv[++i] ?? usage(`${a} needs a value`);
    if (a === "--out") opts.out = path.resolve(value());
    else if (a === "--target") opts.targets.push(value());
    else if (a === "--bin") opts.bin = path.resolve(value());
    else if (a === "-h" || a === "--help") usage();
    else usage(`unknown argument ${a}`);
  }
  return opts;
}

function run(cmd, args, options = {}) {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], ...options });
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

/** npm/<dir> packages with a Rust target: triple → { dir, pkg }. */
function targetPackages() {
  const table = new Map();
  for (const dir of fs.readdirSync(path.join(REPO, "npm"))) {
    const file = path.join(REPO, "npm", dir, "package.json");
    if (!fs.existsSync(file)) continue;
    const pkg = readJson(file);
    const triple = pkg.moltbotZoom?.rustTarget;
    if (triple) table.set(triple, { dir: path.join(REPO, "npm", dir), pkg });
  }
  return table;
}

function hostTriple() {
  const line = run("rustc", ["-vV"])
    .split("\n")
    .find((l) => l.startsWith("host:"));
  if (!line) throw new Error("rustc -vV printed no host line");
  return line.slice("host:".length).trim();
}

/** Builds the release sidecar for `triple` without the fake Zoom; returns the binary path. */
function buildSidecar(triple, host) {
  const args = ["build", "--release", "-p", "moltbot-zoom", "--no-default-features"];
  if (triple !== host) args.push("--target", triple);
  console.error(`[pack] cargo ${args.join(" ")}`);
  execFileSync("cargo", args, { cwd: REPO, stdio: ["ignore", "inherit", "inherit"] });
  return path.join(REPO, "target", ...(triple === host ? [] : [triple]), "release", "moltbot-zoom");
}

/** `npm pack` of `dir` into `out`; returns { file, size, unpackedSize, entryCount }. */
function npmPack(dir, out) {
  const json = run("npm", ["pack", "--json", "--pack-destination", out], { cwd: dir });
  const [info] = JSON.parse(json.slice(json.indexOf("[")));
  return { file: path.join(out, info.filename), size: info.size, unpackedSize: info.unpackedSize, entryCount: info.entryCount, name: info.name };
}

function size(bytes) {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(2)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const table = targetPackages();
  // --bin alone: the target whose npm os / cpu are this machine's (no Rust toolchain needed).
  const local = [...table].find(([, { pkg }]) => pkg.os?.includes(process.platform) && pkg.cpu?.includes(process.arch))?.[0];
  const host = opts.bin ? local : hostTriple();
  const triples = opts.targets.length ? opts.targets : [host];
  if (opts.bin && triples.length !== 1) usage("--bin packs exactly one target");
  for (const t of triples) {
    if (!table.has(t)) usage(`no npm package for target ${t} (add it to [[package.targets]] in plugin.toml; have: ${[...table.keys()].join(", ")})`);
  }

  fs.mkdirSync(opts.out, { recursive: true });
  const stage = path.join(opts.out, "stage");
  fs.rmSync(stage, { recursive: true, force: true });
  const packed = [];
  for (const triple of triples) {
    const { dir, pkg } = table.get(triple);
    const binary = opts.bin ?? buildSidecar(triple, host);
    if (!fs.existsSync(binary)) throw new Error(`sidecar binary ${binary} missing`);
    const staged = path.join(stage, path.basename(dir));
    fs.mkdirSync(path.join(staged, "bin"), { recursive: true });
    fs.copyFileSync(path.join(dir, "package.json"), path.join(staged, "package.json"));
    fs.copyFileSync(binary, path.join(staged, "bin/moltbot-zoom"));
    fs.chmodSync(path.join(staged, "bin/moltbot-zoom"), 0o755);
    packed.push(npmPack(staged, opts.out));
    console.error(`[pack] ${pkg.name}: ${binary}`);
  }
  packed.push(npmPack(path.join(REPO, "npm/sidecar"), opts.out));
  packed.push(npmPack(path.join(REPO, "extension"), opts.out));
  fs.rmSync(stage, { recursive: true, force: true });

  for (const p of packed) {
    console.log(`${path.basename(p.file)}\t${p.name}\tpacked ${size(p.size)}\tunpacked ${size(p.unpackedSize)}\t${p.entryCount} files`);
  }
  console.log(opts.out);
}

main();

#!/usr/bin/env node
// Builds Spar's native addon (native/build/Release/spar_native.node) with node-gyp; run by the
// root package's `install` script, so `npm install` / `npm ci` build it on a machine with a C
// toolchain (make, cc, python3). Usage: node native/build.mjs
//
// Two things this wrapper adds over a bare `node-gyp rebuild`:
// - It uses the node-gyp that ships inside npm (npm exports its path as npm_config_node_gyp), so
//   nothing is downloaded.
// - It points node-gyp at the headers installed beside this node (<prefix>/include/node) when no
//   nodedir is configured; otherwise node-gyp would try to download them from the internet.
//
// Only the proxy's traffic capture needs the addon (validate, analyze and the pilot do not), so a
// failed build warns and lets the install finish — except under CI or with SPAR_REQUIRE_NATIVE=1,
// where it fails the install.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const strict = process.env.CI === 'true' || process.env.SPAR_REQUIRE_NATIVE === '1';

if (process.platform !== 'linux') {
  console.warn('spar native: SO_ORIGINAL_DST is Linux-only; skipping the addon on ' + process.platform + '.');
  process.exit(0);
}

function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((p) => p && existsSync(p));
}

const nodeGyp = findNodeGyp();
const args = ['rebuild', '--directory', here];
const prefix = resolve(dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push('--nodedir=' + prefix);
}
const r = nodeGyp
  ? spawnSync(process.execPath, [nodeGyp, ...args], { stdio: 'inherit' })
  : spawnSync('node-gyp', args, { stdio: 'inherit' });

if (r.status !== 0) {
  const why = r.error ? r.error.message : `node-gyp exited with ${r.status}`;
  const msg =
    `spar native: building the SO_ORIGINAL_DST addon failed (${why}).\n` +
    '  Traffic capture (iptables REDIRECT) in `spar proxy` needs it; install a C toolchain\n' +
    '  (Debian: apt-get install build-essential python3) and run `node native/build.mjs`.';
  if (strict) {
    console.error(msg);
    process.exit(1);
  }
  console.warn(msg);
}

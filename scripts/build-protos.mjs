#!/usr/bin/env node
// Builds dist/envoy-api.binpb: a FileDescriptorSet of Envoy's v3 API (and its udpa/xds/validate/
// googleapis imports), from the protos that @grpc/grpc-js-xds ships in deps/. Compiled with `buf`
// (npm @bufbuild/buf, a binary shipped in the registry package). Nothing fetched is committed:
// this runs at build time. Files whose imports are not shipped (OpenCensus, OpenTelemetry, v2 API)
// are left out.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const deps = join(root, 'node_modules', '@grpc', 'grpc-js-xds', 'deps');
const modules = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'];
const out = join(root, 'dist', 'envoy-api.binpb');
const ws = join(root, 'dist', 'proto-ws');

function walk(d, acc) {
  for (const e of readdirSync(d)) {
    const p = join(d, e);
    if (statSync(p).isDirectory()) walk(p, acc);
    else if (p.endsWith('.proto')) acc.push(p);
  }
  return acc;
}

const memo = new Map();
function find(target) {
  if (target.startsWith('google/protobuf/')) return 'wkt';
  for (const m of modules) if (existsSync(join(deps, m, target))) return join(deps, m, target);
  return null;
}
function usable(target, stack = new Set()) {
  if (memo.has(target)) return memo.get(target);
  if (stack.has(target)) return true;
  stack.add(target);
  const p = find(target);
  let ok = p !== null;
  if (ok && p !== 'wkt') {
    for (const m of readFileSync(p, 'utf8').matchAll(/^import (?:public |weak )?"([^"]+)"/gm)) {
      if (!usable(m[1], stack)) { ok = false; break; }
    }
  }
  memo.set(target, ok);
  return ok;
}

const envoyDir = join(deps, 'envoy-api');
const files = walk(join(envoyDir, 'envoy'), [])
  .map((f) => relative(envoyDir, f))
  .filter((f) => /\/v3\//.test(f) && usable(f));

rmSync(ws, { recursive: true, force: true });
mkdirSync(ws, { recursive: true });
for (const m of modules) symlinkSync(join(deps, m), join(ws, m));
// The validate.proto shipped beside Envoy's protos predates `ignore_empty`, which Envoy's field
// annotations use; give buf a copy with that field added (annotations only: no wire effect).
rmSync(join(ws, 'protoc-gen-validate'));
cpSync(join(deps, 'protoc-gen-validate'), join(ws, 'protoc-gen-validate'), { recursive: true, dereference: true });
const vp = join(ws, 'protoc-gen-validate', 'validate', 'validate.proto');
writeFileSync(vp, readFileSync(vp, 'utf8').replace(/(message (\w+)Rules \{)/g, (m, head, kind) => (kind === 'String' || kind === 'Bytes' || kind === 'Repeated' || kind === 'Map' || /^(U?Int|S?Fixed|Double|Float|Enum)/.test(kind) ? `${head}\n  optional bool ignore_empty = 1000;` : m)));
writeFileSync(join(ws, 'buf.yaml'), `version: v2\nmodules:\n${modules.map((m) => `  - path: ${m}`).join('\n')}\n`);
const buf = join(root, 'node_modules', '.bin', 'buf');
const args = ['build', ws, '--as-file-descriptor-set', '-o', out, ...files.flatMap((f) => ['--path', join(ws, 'envoy-api', f)])];
writeFileSync(join(ws, 'args.txt'), args.join('\n'));
try {
  execFileSync(buf, args, { stdio: ['ignore', 'inherit', 'pipe'] });
} catch (e) {
  console.error(`build-protos: buf failed:\n${String(e.stderr ?? e.message).split('\n').slice(0, 20).join('\n')}`);
  process.exit(1);
}
rmSync(ws, { recursive: true, force: true });
await writeIndex(out);
console.log(`envoy-api.binpb: ${files.length} Envoy v3 proto files, ${statSync(out).size} bytes`);

/**
 * dist/envoy-api.index.json: for each proto file its byte range in dist/envoy-api.files.bin (one
 * encoded FileDescriptorProto after another) and for each type name its file, so that src/xds/codec
 * decodes only the files a message needs (a proxy or `spar validate` needs a few dozen of ~900).
 */
async function writeIndex(setFile) {
  const { fromBinary, toBinary } = await import('@bufbuild/protobuf');
  const { FileDescriptorSetSchema, FileDescriptorProtoSchema } = await import('@bufbuild/protobuf/wkt');
  const set = fromBinary(FileDescriptorSetSchema, readFileSync(setFile));
  const chunks = [];
  const files = {};
  const types = {};
  let offset = 0;
  const addTypes = (prefix, file, msgs, enums) => {
    for (const m of msgs) {
      const name = `${prefix}${m.name}`;
      types[name] = file;
      addTypes(`${name}.`, file, m.nestedType, m.enumType);
    }
    for (const e of enums) types[`${prefix}${e.name}`] = file;
  };
  for (const f of set.file) {
    const bytes = toBinary(FileDescriptorProtoSchema, f);
    chunks.push(bytes);
    files[f.name] = [offset, bytes.length];
    offset += bytes.length;
    addTypes(f.package ? `${f.package}.` : '', f.name, f.messageType, f.enumType);
    for (const svc of f.service) types[`${f.package}.${svc.name}`] = f.name;
  }
  writeFileSync(join(root, 'dist', 'envoy-api.files.bin'), Buffer.concat(chunks));
  writeFileSync(join(root, 'dist', 'envoy-api.index.json'), JSON.stringify({ files, types }));
}

/**
 * The image map against Istio's own sample YAML: every container image in the samples the local
 * runtime starts has a stand-in, and a container's command/args/env are applied as Kubernetes
 * applies them over the image's ENTRYPOINT/CMD/ENV.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { findSampleImage, imageRepository, resolveContainer, type ContainerSpec, type LocalCommand } from '../../samples/images.js';
import { repoRoot } from '../../src/common/paths.js';
import { samplesDir } from '../helpers/shared.js';
import { fromSource, http } from './helpers.js';

interface FoundContainer extends ContainerSpec {
  file: string;
  deployment: string;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'gateway-api' ? [] : yamlFiles(p);
    return /\.ya?ml$/.test(name) ? [p] : [];
  });
}

/** Every container of every Deployment in `files`, with its env flattened to plain values. */
function containersIn(files: string[]): FoundContainer[] {
  const out: FoundContainer[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      const obj = doc.toJS() as { kind?: string; metadata?: { name?: string }; spec?: { template?: { spec?: { containers?: unknown[] } } } } | null;
      for (const c of (obj?.spec?.template?.spec?.containers ?? []) as { image: string; command?: string[]; args?: string[]; env?: { name: string; value?: string }[] }[]) {
        const env = Object.fromEntries((c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, String(e.value)]));
        out.push({ file, deployment: obj?.metadata?.name ?? '?', image: c.image, command: c.command, args: c.args?.map(String), env });
      }
    }
  }
  return out;
}

const opts = { repoRoot, fromSource };
const resolveOk = (c: ContainerSpec): LocalCommand => {
  const r = resolveContainer(c, opts);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.command;
};

describe('image map', () => {
  test('image references reduce to the repository name', () => {
    assert.equal(imageRepository('registry.istio.io/release/examples-bookinfo-reviews-v2:1.20.3'), 'examples-bookinfo-reviews-v2');
    assert.equal(imageRepository('docker.io/istio/examples-bookinfo-productpage-v1:1.20.2'), 'examples-bookinfo-productpage-v1');
    assert.equal(imageRepository('localhost:5000/curlimages/curl'), 'curl');
    assert.equal(imageRepository('fortio/fortio@sha256:abc'), 'fortio');
    assert.equal(findSampleImage('kennethreitz/httpbin')?.repository, 'httpbin');
  });

  const required = [
    join(samplesDir, 'bookinfo', 'platform', 'kube', 'bookinfo.yaml'),
    ...yamlFiles(join(samplesDir, 'httpbin')),
    ...yamlFiles(join(samplesDir, 'sleep')),
    ...yamlFiles(join(samplesDir, 'curl')),
    ...yamlFiles(join(samplesDir, 'tcp-echo')),
    ...yamlFiles(join(samplesDir, 'helloworld')),
  ];

  test('every image in bookinfo.yaml, httpbin, sleep, curl, tcp-echo and helloworld resolves to a command', () => {
    const containers = containersIn(required);
    assert.ok(containers.length >= 15, `found only ${containers.length} containers`);
    for (const c of containers) {
      const r = resolveContainer(c, opts);
      assert.ok(r.ok, `${c.file} ${c.deployment}: ${r.ok ? '' : r.error}`);
    }
  });

  test('every image in the other Bookinfo variants is known (MySQL is reported as unsupported)', () => {
    for (const c of containersIn(yamlFiles(join(samplesDir, 'bookinfo', 'platform', 'kube')))) {
      assert.ok(findSampleImage(c.image), `${c.file}: ${c.image} unknown`);
      const r = resolveContainer(c, opts);
      if (!r.ok) assert.match(c.image, /examples-bookinfo-mysqldb/, r.error);
    }
  });

  test('Bookinfo containers get the env their images bake in', () => {
    const byName = new Map(containersIn(required.slice(0, 1)).map((c) => [c.deployment, c]));
    const v3 = resolveOk(byName.get('reviews-v3')!);
    assert.equal(v3.app, 'reviews');
    assert.deepEqual({ ...v3.env }, { SERVICE_VERSION: 'v3', ENABLE_RATINGS: 'true', STAR_COLOR: 'red', LOG_DIR: '/tmp/logs' });
    assert.equal(resolveOk(byName.get('reviews-v1')!).env.ENABLE_RATINGS, 'false');
    assert.equal(resolveOk(byName.get('reviews-v2')!).env.STAR_COLOR, 'black');
    const pp = resolveOk(byName.get('productpage-v1')!);
    assert.equal(pp.app, 'productpage');
    assert.equal(pp.argv.at(-1), '9080');
  });

  test('sleep/curl run the sleep sample; tcp-echo gets its ports and prefix from args', () => {
    const sleep = containersIn([join(samplesDir, 'sleep', 'sleep.yaml')])[0]!;
    const cmd = resolveOk(sleep);
    assert.equal(cmd.app, 'sleep');
    assert.equal(cmd.argv.at(-1), 'infinity');
    const echoes = containersIn([join(samplesDir, 'tcp-echo', 'tcp-echo-services.yaml')]);
    assert.deepEqual(echoes.map((c) => resolveOk(c).argv.slice(-2)), [['9000,9001,9002', 'one'], ['9000,9001,9002', 'two']]);
    assert.deepEqual(resolveOk({ image: 'registry.istio.io/release/tcp-echo-server:1.3' }).argv.slice(-2), ['9000', 'hello'], "the image's CMD");
  });

  test('helloworld v1/v2 differ only in SERVICE_VERSION; fortio is the real binary', () => {
    const hw = containersIn([join(samplesDir, 'helloworld', 'helloworld.yaml')]).map((c) => resolveOk(c));
    assert.deepEqual(hw.map((c) => c.env.SERVICE_VERSION), ['v1', 'v2']);
    const fortio = resolveOk(containersIn([join(samplesDir, 'httpbin', 'sample-client', 'fortio-deploy.yaml')])[0]!);
    assert.match(fortio.argv[0]!, /fortio$/);
    assert.deepEqual(fortio.argv.slice(1), ['server']);
  });

  test("the mirroring task's Python httpbin: gunicorn's command line becomes the sample's flags", () => {
    const cmd = resolveOk({ image: 'docker.io/kennethreitz/httpbin', command: ['gunicorn', '--access-logfile', '-', '-b', '0.0.0.0:80', 'httpbin:app'] });
    assert.equal(cmd.app, 'httpbin');
    assert.deepEqual(cmd.argv.slice(-7), ['--flavor', 'kennethreitz', '--access-logfile', '-', '-b', '0.0.0.0:80', 'httpbin:app']);
    assert.deepEqual(resolveOk({ image: 'docker.io/kennethreitz/httpbin' }).argv.slice(-4), ['--flavor', 'kennethreitz', '-b', '0.0.0.0:80']);
  });

  test('an unknown image is an error that names it', () => {
    const r = resolveContainer({ image: 'docker.io/library/nginx:1.27' }, opts);
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.error, /nginx:1\.27: no local stand-in/);
  });

  test('a resolved go-httpbin container with Go-style flags starts and serves', async () => {
    const cmd = resolveOk({ image: 'docker.io/mccutchen/go-httpbin:v2.15.0', args: ['-port', '0', '-host', '127.0.0.1'] });
    const proc = spawn(cmd.argv[0]!, cmd.argv.slice(1), { cwd: repoRoot, env: { ...process.env, ...cmd.env }, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        proc.stdout!.on('data', (b: Buffer) => {
          out += b.toString('utf8');
          const m = /listening on .*:(\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        proc.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      const res = await http(port, '/status/201');
      assert.equal(res.status, 201);
    } finally {
      proc.kill('SIGKILL');
    }
  });
});

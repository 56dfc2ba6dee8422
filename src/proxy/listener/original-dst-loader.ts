/**
 * SO_ORIGINAL_DST for use_original_dst / original_dst listener filters comes from the native addon
 * (listener/original-dst.ts, built in native/). It is optional: without it (addon not built, not
 * Linux) connections keep their local address as the destination, and a per-connection failure is
 * treated as "not redirected" rather than an error on the accept path.
 */
import type { Socket } from 'node:net';

export type OriginalDstFn = (s: Socket) => { address: string; port: number } | undefined;

export async function loadOriginalDst(): Promise<OriginalDstFn | undefined> {
  try {
    const spec = './original-dst.js';
    const mod = (await import(spec)) as { getOriginalDst?: OriginalDstFn; originalDstAvailable?: () => boolean };
    if (!mod.getOriginalDst || !mod.originalDstAvailable?.()) return undefined;
    const get = mod.getOriginalDst;
    return (s) => {
      try {
        return get(s);
      } catch {
        return undefined;
      }
    };
  } catch {
    return undefined;
  }
}

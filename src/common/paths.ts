/**
 * Where Spar's own files and the shared Istio reference material live.
 *
 * The repository root is found from this module's location (works from `src/` under tsx and from
 * `dist/src/` after a build). Istio's reference data sits beside the checkout in `../shared/istio`
 * unless SPAR_SHARED points elsewhere.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src'))) return dir;
    const up = dirname(dir);
    if (up === dir) return resolve(start, '..', '..');
    dir = up;
  }
}

/** The Spar checkout (the folder holding package.json). */
export const repoRoot: string = findRoot(dirname(fileURLToPath(import.meta.url)));

/** `../shared` beside the checkout, or $SPAR_SHARED. */
export const sharedDir: string = process.env.SPAR_SHARED ? resolve(process.env.SPAR_SHARED) : resolve(repoRoot, '..', 'shared');

/** Istio's CRDs, samples and test data, unchanged. */
export const istioDir: string = join(sharedDir, 'istio');

/** Path of Istio's CRD bundle, the authority on what a valid Istio resource is. */
export const crdBundlePath: string = join(istioDir, 'crd-all.gen.yaml');

/**
 * The few runtime keys Spar honours from `layered_runtime` static layers (Istio's bootstrap sets
 * them). Any other key is rejected by name: Spar has no runtime system to give it meaning.
 */
export const runtime = {
  /** envoy.reloadable_features.http_reject_path_with_fragment (Envoy's default: true → 400). */
  rejectPathWithFragment: true,
};

type Setter = (v: unknown) => string | undefined;

const KEYS: Record<string, Setter> = {
  // RE2 program size limits only make Envoy refuse very large regexes; re2-wasm has its own limits.
  're2.max_program_size.error_level': () => undefined,
  're2.max_program_size.warn_level': () => undefined,
  'envoy.reloadable_features.http_reject_path_with_fragment': (v) => {
    if (typeof v !== 'boolean') return 'expected a boolean';
    runtime.rejectPathWithFragment = v;
    return undefined;
  },
};

/** Applies one static layer; returns errors naming unsupported keys. */
export function applyStaticLayer(layer: Record<string, unknown>, path: string): string[] {
  const errs: string[] = [];
  for (const [k, v] of Object.entries(layer)) {
    const set = KEYS[k];
    if (!set) errs.push(`${path}.${k}: runtime key not supported by spar proxy (supported: ${Object.keys(KEYS).join(', ')})`);
    else {
      const e = set(v);
      if (e) errs.push(`${path}.${k}: ${e}`);
    }
  }
  return errs;
}

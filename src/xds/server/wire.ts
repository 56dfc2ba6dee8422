/**
 * Protobuf framing of discovery responses around resources that are already encoded.
 *
 * A push sends the same cluster to many proxies; the resource cache encodes each resource once and
 * this module only writes the few bytes of envelope around it (DiscoveryResponse, Any, delta
 * Resource) — no re-serialisation of the resource per proxy. Field numbers are those of
 * envoy/service/discovery/v3/discovery.proto; test/pilot/ads-wire.test.ts checks the output decodes
 * with the full codec.
 */

const enc = new TextEncoder();

/** A growable list of byte chunks; concatenated once at the end. */
class Writer {
  readonly chunks: Uint8Array[] = [];
  length = 0;

  raw(b: Uint8Array): this {
    this.chunks.push(b);
    this.length += b.length;
    return this;
  }

  varint(n: number): this {
    const out: number[] = [];
    while (n > 0x7f) {
      out.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
    return this.raw(Uint8Array.from(out));
  }

  /** A length-delimited field (wire type 2). */
  bytes(field: number, b: Uint8Array): this {
    return this.varint((field << 3) | 2).varint(b.length).raw(b);
  }

  string(field: number, s: string | undefined): this {
    if (!s) return this; // proto3: empty strings are not written
    return this.bytes(field, enc.encode(s));
  }

  /** A nested message written by `w`. */
  message(field: number, w: Writer): this {
    this.varint((field << 3) | 2).varint(w.length);
    for (const c of w.chunks) this.raw(c);
    return this;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

/** google.protobuf.Any { type_url = 1; value = 2 }. */
function anyOf(typeUrl: string, value: Uint8Array): Writer {
  return new Writer().string(1, typeUrl).bytes(2, value);
}

/** One resource already encoded (its message bytes, without the Any). */
export interface WireResource {
  readonly typeUrl: string;
  readonly value: Uint8Array;
}

/** DiscoveryResponse { version_info = 1; resources = 2; type_url = 4; nonce = 5; control_plane = 6 { identifier = 1 } }. */
export function frameDiscoveryResponse(r: { versionInfo: string; typeUrl: string; nonce: string; resources: readonly WireResource[]; controlPlane?: string }): Uint8Array {
  const w = new Writer().string(1, r.versionInfo);
  for (const res of r.resources) w.message(2, anyOf(res.typeUrl, res.value));
  w.string(4, r.typeUrl).string(5, r.nonce);
  if (r.controlPlane) w.message(6, new Writer().string(1, r.controlPlane));
  return w.finish();
}

/**
 * DeltaDiscoveryResponse { system_version_info = 1; resources = 2 (Resource { version = 1;
 * resource = 2; name = 3 }); type_url = 4; nonce = 5; removed_resources = 6; control_plane = 7 }.
 */
export function frameDeltaDiscoveryResponse(r: {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: readonly { name: string; version: string; resource: WireResource }[];
  removed: readonly string[];
  controlPlane?: string;
}): Uint8Array {
  const w = new Writer().string(1, r.systemVersionInfo);
  for (const res of r.resources) {
    w.message(2, new Writer().string(1, res.version).message(2, anyOf(res.resource.typeUrl, res.resource.value)).string(3, res.name));
  }
  w.string(4, r.typeUrl).string(5, r.nonce);
  for (const name of r.removed) w.string(6, name);
  if (r.controlPlane) w.message(7, new Writer().string(1, r.controlPlane));
  return w.finish();
}

/**
 * Envoy's v3 API on the wire and in JSON.
 *
 * Spar handles every Envoy resource in Envoy's JSON form: the proto3 JSON mapping with the proto
 * field names (snake_case), `Any` as `{"@type": url, ...fields}`, durations as `"1.5s"` — exactly what
 * Envoy's bootstrap files and `/config_dump` use. This module converts between that form and
 * protobuf binary (for ADS), using @bufbuild/protobuf (a conformant proto3 JSON implementation)
 * over a descriptor set of Envoy's protos (dist/envoy-api.binpb, built by scripts/build-protos.mjs
 * from the protos @grpc/grpc-js-xds ships; decoded lazily, file by file). Both the pilot and the
 * proxy use it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  create, createFileRegistry, fromBinary, fromJson, toBinary, toJson,
  type DescEnum, type DescExtension, type DescFile, type DescMessage, type DescService, type JsonObject, type JsonValue, type Registry,
} from '@bufbuild/protobuf';
import { nestedTypes } from '@bufbuild/protobuf/reflect';
import { AnySchema, FileDescriptorProtoSchema, type Any } from '@bufbuild/protobuf/wkt';
import { repoRoot } from '../common/paths.js';

/** A protobuf message in Envoy's JSON form. */
export type EnvoyJson = JsonObject;

/** A resource already encoded (the pilot caches these so one cluster is encoded once, not per proxy). */
export interface EncodedResource {
  readonly typeUrl: string;
  readonly value: Uint8Array;
}

const TYPE_PREFIX = 'type.googleapis.com/';

/**
 * A Registry over Envoy's API that decodes a proto file only when one of its types is first asked
 * for (with its imports). Building the registry of all ~900 files up front costs about a second
 * of CPU; a proxy or a `spar validate` run touches a few dozen files.
 */
class LazyEnvoyRegistry implements Registry {
  readonly kind = 'registry' as const;
  private readonly files = new Map<string, DescFile>();
  private readonly cache = new Map<string, DescMessage | DescEnum | DescService | undefined>();

  constructor(
    private readonly blob: Uint8Array,
    private readonly index: { files: Record<string, [number, number]>; types: Record<string, string> },
  ) {}

  private file(name: string): DescFile | undefined {
    const done = this.files.get(name);
    if (done) return done;
    const range = this.index.files[name];
    if (!range) return undefined;
    const proto = fromBinary(FileDescriptorProtoSchema, this.blob.subarray(range[0], range[0] + range[1]));
    for (const dep of proto.dependency) this.file(dep);
    const desc = createFileRegistry(proto, (dep) => this.files.get(dep)).getFile(name);
    if (desc) this.files.set(name, desc);
    return desc;
  }

  get(typeName: string): DescMessage | DescEnum | DescService | undefined {
    if (this.cache.has(typeName)) return this.cache.get(typeName);
    const fileName = this.index.types[typeName];
    let found: DescMessage | DescEnum | DescService | undefined;
    if (fileName) {
      const f = this.file(fileName);
      if (f) found = findIn(f, typeName);
    }
    this.cache.set(typeName, found);
    return found;
  }

  getMessage(typeName: string): DescMessage | undefined {
    const d = this.get(typeName);
    return d?.kind === 'message' ? d : undefined;
  }

  getEnum(typeName: string): DescEnum | undefined {
    const d = this.get(typeName);
    return d?.kind === 'enum' ? d : undefined;
  }

  getService(typeName: string): DescService | undefined {
    const d = this.get(typeName);
    return d?.kind === 'service' ? d : undefined;
  }

  // Envoy's API uses extensions only for annotations (validate, udpa), never in resources.
  getExtension(): DescExtension | undefined {
    return undefined;
  }

  getExtensionFor(): DescExtension | undefined {
    return undefined;
  }

  *[Symbol.iterator](): IterableIterator<DescMessage | DescEnum | DescExtension | DescService> {
    for (const name of Object.keys(this.index.types)) {
      const d = this.get(name);
      if (d) yield d;
    }
  }
}

function findIn(file: DescFile, typeName: string): DescMessage | DescEnum | DescService | undefined {
  for (const t of nestedTypes(file)) {
    if (t.typeName === typeName && (t.kind === 'message' || t.kind === 'enum')) return t;
  }
  return file.services.find((s) => s.typeName === typeName);
}

let registry: LazyEnvoyRegistry | undefined;

/** The registry of Envoy's message types (each proto file decoded on first use). */
export function envoyRegistry(): Registry {
  if (registry) return registry;
  const blobFile = join(repoRoot, 'dist', 'envoy-api.files.bin');
  const indexFile = join(repoRoot, 'dist', 'envoy-api.index.json');
  if (!existsSync(blobFile) || !existsSync(indexFile)) execFileSync(process.execPath, [join(repoRoot, 'scripts', 'build-protos.mjs')], { stdio: 'ignore' });
  registry = new LazyEnvoyRegistry(readFileSync(blobFile), JSON.parse(readFileSync(indexFile, 'utf8')));
  return registry;
}

/** The descriptor of `envoy.config.cluster.v3.Cluster` (type name or type URL). */
export function messageType(typeNameOrUrl: string): DescMessage {
  const name = typeNameOrUrl.startsWith(TYPE_PREFIX) ? typeNameOrUrl.slice(TYPE_PREFIX.length) : typeNameOrUrl.slice(typeNameOrUrl.lastIndexOf('/') + 1);
  const desc = envoyRegistry().getMessage(name);
  if (!desc) throw new Error(`unknown protobuf type "${name}" (not in Envoy's v3 API)`);
  return desc;
}

/** JSON form → binary. Throws with the field that does not fit the schema. */
export function encodeMessage(typeNameOrUrl: string, json: EnvoyJson): Uint8Array {
  const desc = messageType(typeNameOrUrl);
  return toBinary(desc, fromJson(desc, json, { registry: envoyRegistry() }));
}

/** Binary → JSON form (proto field names, defaults omitted). */
export function decodeMessage(typeNameOrUrl: string, bytes: Uint8Array): EnvoyJson {
  const desc = messageType(typeNameOrUrl);
  return toJson(desc, fromBinary(desc, bytes), { registry: envoyRegistry(), useProtoFieldName: true }) as EnvoyJson;
}

/** A resource in JSON form with its `@type` → an encoded Any. */
export function encodeResource(json: EnvoyJson): EncodedResource {
  const typeUrl = json['@type'];
  if (typeof typeUrl !== 'string') throw new Error('resource has no "@type"');
  const { '@type': _t, ...fields } = json;
  return { typeUrl, value: encodeMessage(typeUrl, fields) };
}

/** An encoded Any → JSON form with `@type`. */
export function decodeResource(r: EncodedResource): EnvoyJson {
  return { '@type': r.typeUrl, ...decodeMessage(r.typeUrl, r.value) };
}

/**
 * Checks that a JSON-form message fits Envoy's schema (field names, types, enum names) by
 * round-tripping it; returns the error text or undefined. Used to catch a bad resource before it
 * is pushed.
 */
export function checkMessage(typeNameOrUrl: string, json: EnvoyJson): string | undefined {
  try {
    encodeMessage(typeNameOrUrl, json);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

// ---- Discovery messages (ADS) ----

const DISCOVERY = 'envoy.service.discovery.v3.';

function anyOf(r: EnvoyJson | EncodedResource): Any {
  const enc = isEncoded(r) ? r : encodeResource(r);
  return create(AnySchema, { typeUrl: enc.typeUrl, value: enc.value });
}

function isEncoded(r: unknown): r is EncodedResource {
  return typeof r === 'object' && r !== null && (r as EncodedResource).value instanceof Uint8Array && typeof (r as EncodedResource).typeUrl === 'string';
}

/** A DiscoveryResponse whose resources may be JSON (with @type) or already encoded. */
export interface DiscoveryResponseInput {
  version_info?: string;
  resources: (EnvoyJson | EncodedResource)[];
  type_url: string;
  nonce?: string;
  control_plane?: { identifier: string };
}

export function encodeDiscoveryResponse(r: DiscoveryResponseInput): Uint8Array {
  const desc = messageType(DISCOVERY + 'DiscoveryResponse');
  const { resources, ...rest } = r;
  const msg = fromJson(desc, rest as unknown as JsonValue, { registry: envoyRegistry() }) as unknown as { resources: Any[] };
  msg.resources = resources.map(anyOf);
  return toBinary(desc, msg as never);
}

/** A DeltaDiscoveryResponse; each resource's `resource` may be JSON or encoded. */
export interface DeltaDiscoveryResponseInput {
  system_version_info?: string;
  resources: { name: string; version: string; resource: EnvoyJson | EncodedResource; aliases?: string[] }[];
  type_url: string;
  removed_resources?: string[];
  nonce?: string;
  control_plane?: { identifier: string };
}

export function encodeDeltaDiscoveryResponse(r: DeltaDiscoveryResponseInput): Uint8Array {
  const desc = messageType(DISCOVERY + 'DeltaDiscoveryResponse');
  const resDesc = messageType(DISCOVERY + 'Resource');
  const { resources, ...rest } = r;
  const msg = fromJson(desc, rest as unknown as JsonValue, { registry: envoyRegistry() }) as unknown as { resources: unknown[] };
  msg.resources = resources.map((x) => create(resDesc, { name: x.name, version: x.version, aliases: x.aliases ?? [], resource: anyOf(x.resource) } as never));
  return toBinary(desc, msg as never);
}

/** Any message of the discovery service in JSON form (requests, responses, delta). */
export function decodeDiscovery(kind: 'DiscoveryRequest' | 'DiscoveryResponse' | 'DeltaDiscoveryRequest' | 'DeltaDiscoveryResponse', bytes: Uint8Array): EnvoyJson {
  return decodeMessage(DISCOVERY + kind, bytes);
}

export function encodeDiscovery(kind: 'DiscoveryRequest' | 'DeltaDiscoveryRequest', json: EnvoyJson): Uint8Array {
  return encodeMessage(DISCOVERY + kind, json);
}

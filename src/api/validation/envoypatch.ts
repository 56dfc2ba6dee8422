/**
 * EnvoyFilter patch values against Envoy's own schema, as istiod's BuildXDSObjectFromStruct checks
 * them: `patch.value` must decode as the Envoy message its `applyTo` names (a Cluster for CLUSTER,
 * an HttpFilter for HTTP_FILTER ...), with every `typed_config` decoding as its `@type`. A value
 * that does not fit is an error; fields Envoy does not know are a warning (istiod's strict pass).
 *
 * The descriptors are the pilot's (src/xds/codec.ts: Envoy's v3 API), loaded on first use. A
 * `@type` outside that set (contrib or Istio-private extensions) cannot be checked here and is
 * reported as a warning, never as an error. `TypedStruct` wrappers are checked against the
 * `type_url` they carry.
 */
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { envoyRegistry, messageType } from '../../xds/codec.js';
import { isObj, str, type Obj, type Report } from './report.js';

const ENVOY_TYPE: Record<string, string> = {
  LISTENER: 'envoy.config.listener.v3.Listener',
  FILTER_CHAIN: 'envoy.config.listener.v3.FilterChain',
  NETWORK_FILTER: 'envoy.config.listener.v3.Filter',
  HTTP_FILTER: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter',
  ROUTE_CONFIGURATION: 'envoy.config.route.v3.RouteConfiguration',
  VIRTUAL_HOST: 'envoy.config.route.v3.VirtualHost',
  HTTP_ROUTE: 'envoy.config.route.v3.Route',
  CLUSTER: 'envoy.config.cluster.v3.Cluster',
  EXTENSION_CONFIG: 'envoy.config.core.v3.TypedExtensionConfig',
  BOOTSTRAP: 'envoy.config.bootstrap.v3.Bootstrap',
  LISTENER_FILTER: 'envoy.config.listener.v3.ListenerFilter',
};
const TYPED_STRUCTS = new Set(['type.googleapis.com/udpa.type.v1.TypedStruct', 'type.googleapis.com/xds.type.v3.TypedStruct']);
const STRUCT_URL = 'type.googleapis.com/google.protobuf.Struct';
const NOT_IN_REGISTRY = / is not in the type registry/;

/** Checks `value` (at `path`) as the Envoy message `applyTo` patches. */
export function validatePatchValue(rep: Report, path: string, applyTo: string, value: unknown): void {
  const typeName = ENVOY_TYPE[applyTo];
  if (!typeName || !isObj(value)) return;
  const unknownTypes = new Set<string>();
  const json = rewriteTypedStructs(rep, path, value, unknownTypes);
  let desc;
  try {
    desc = messageType(typeName);
  } catch {
    return; // descriptors unavailable: nothing to check against
  }
  const registry = envoyRegistry();
  try {
    fromJson(desc, json as JsonValue, { registry, ignoreUnknownFields: true });
  } catch (e) {
    const msg = (e as Error).message;
    const unknown = /(\S+) is not in the type registry/.exec(msg)?.[1];
    if (unknown && NOT_IN_REGISTRY.test(msg)) unknownTypes.add(unknown);
    else return rep.error(path, `Envoy filter: ${applyTo} patch value is not a valid ${typeName}: ${msg}`);
  }
  for (const t of unknownTypes) {
    rep.warn(path, `Envoy filter: cannot check ${t}: the type is not in the Envoy API Spar knows; Envoy will decide whether it accepts it`);
  }
  if (unknownTypes.size > 0) return;
  try {
    fromJson(desc, json as JsonValue, { registry });
  } catch (e) {
    rep.warn(path, `Envoy filter: ${(e as Error).message} (not in the Envoy API Spar knows: a newer field or value, or a typo; the proxy may reject it)`);
  }
}

/**
 * Copies `v`, checking each TypedStruct against the message its `type_url` names and replacing it
 * by a plain Struct (the registry lacks the TypedStruct message itself).
 */
function rewriteTypedStructs(rep: Report, path: string, v: unknown, unknownTypes: Set<string>): unknown {
  if (Array.isArray(v)) return v.map((x) => rewriteTypedStructs(rep, path, x, unknownTypes));
  if (!isObj(v)) return v;
  const type = str(v['@type']);
  if (TYPED_STRUCTS.has(type)) {
    const inner = str(v.type_url ?? v.typeUrl);
    const fields = isObj(v.value) ? v.value : {};
    checkTypedStruct(rep, path, inner, fields, unknownTypes);
    return { '@type': STRUCT_URL, value: fields };
  }
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) out[k] = rewriteTypedStructs(rep, path, x, unknownTypes);
  return out;
}

function checkTypedStruct(rep: Report, path: string, typeUrl: string, fields: Obj, unknownTypes: Set<string>): void {
  let desc;
  try {
    desc = messageType(typeUrl);
  } catch {
    unknownTypes.add(typeUrl || '(TypedStruct without type_url)');
    return;
  }
  try {
    fromJson(desc, rewriteTypedStructs(rep, path, fields, unknownTypes) as JsonValue, { registry: envoyRegistry(), ignoreUnknownFields: true });
  } catch (e) {
    const msg = (e as Error).message;
    const unknown = /(\S+) is not in the type registry/.exec(msg)?.[1];
    if (unknown) unknownTypes.add(unknown);
    else rep.error(path, `Envoy filter: TypedStruct value is not a valid ${desc.typeName}: ${msg}`);
  }
}

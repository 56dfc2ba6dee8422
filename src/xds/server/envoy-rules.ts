/**
 * Rules Envoy enforces when it accepts a resource that the protobuf schema alone does not express,
 * checked before a push so that a resource Envoy would reject is dropped (with an error naming the
 * resource and field) instead of being NACKed by every proxy.
 *
 * Covered: protoc-gen-validate constraints Envoy checks on receipt (non-empty names, required
 * oneofs, positive durations), the HTTP connection manager's "router must be last" rule, unique
 * domains across a RouteConfiguration's virtual hosts, weighted clusters that sum to more than
 * zero, RE2-compilable `safe_regex`, unique filter chain matches in a Listener. (Filter chain
 * names may repeat: Envoy accepts that.) test/pilot/envoy-rules.test.ts checks each rule against
 * `envoy --mode validate`. Each check returns
 * the first problem as text (the form Envoy's own NACK message has) or undefined.
 */
import { RE2 } from 're2-wasm';
import type { EnvoyJson } from '../codec.js';
import { TypeUrl } from '../resource-types.js';

type Json = EnvoyJson[string];

const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

const regexVerdicts = new Map<string, string | null>();

function re2Problem(pattern: string): string | undefined {
  let v = regexVerdicts.get(pattern);
  if (v === undefined) {
    try {
      new RE2(pattern, 'u');
      v = null;
    } catch (e) {
      const msg = (e as Error).message;
      const i = msg.lastIndexOf('/u: ');
      v = i >= 0 ? msg.slice(i + 4) : msg;
    }
    if (regexVerdicts.size > 4096) regexVerdicts.clear();
    regexVerdicts.set(pattern, v);
  }
  return v ?? undefined;
}

function obj(v: Json | undefined): EnvoyJson | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as EnvoyJson) : undefined;
}

function arr(v: Json | undefined): Json[] {
  return Array.isArray(v) ? v : [];
}

/** Seconds in a proto3 JSON duration ("1.5s"), or undefined when absent/unreadable. */
function seconds(v: Json | undefined): number | undefined {
  if (typeof v !== 'string' || !v.endsWith('s')) return undefined;
  const n = Number(v.slice(0, -1));
  return Number.isFinite(n) ? n : undefined;
}

/** Every `safe_regex: {regex}` anywhere under `v`, with its path. */
function findRegexes(v: Json | undefined, path: string, out: { path: string; regex: string }[]): void {
  if (Array.isArray(v)) {
    v.forEach((x, i) => findRegexes(x, `${path}[${i}]`, out));
    return;
  }
  const o = obj(v);
  if (!o) return;
  for (const [k, x] of Object.entries(o)) {
    if ((k === 'safe_regex' || k === 'safe_regex_match' || k === 'pattern') && obj(x) && typeof obj(x)!.regex === 'string') out.push({ path: `${path}.${k}.regex`, regex: obj(x)!.regex as string });
    else findRegexes(x, `${path}.${k}`, out);
  }
}

function checkRegexes(v: Json, root: string): string | undefined {
  const found: { path: string; regex: string }[] = [];
  findRegexes(v, root, found);
  for (const f of found) {
    const p = re2Problem(f.regex);
    if (p) return `${f.path}: invalid RE2 regex "${f.regex}": ${p}`;
  }
  return undefined;
}

function checkCluster(c: EnvoyJson): string | undefined {
  if (!c.name) return 'Cluster.name: must not be empty';
  const ct = seconds(c.connect_timeout);
  if (ct !== undefined && ct <= 0) return `Cluster ${c.name}: connect_timeout must be greater than 0s, got ${String(c.connect_timeout)}`;
  const type = c.type ?? 'STATIC';
  if (type === 'EDS' && !obj(c.eds_cluster_config)) return `Cluster ${c.name}: type EDS needs eds_cluster_config`;
  if (type === 'ORIGINAL_DST' && c.lb_policy && c.lb_policy !== 'CLUSTER_PROVIDED') return `Cluster ${c.name}: ORIGINAL_DST clusters need lb_policy CLUSTER_PROVIDED, got ${String(c.lb_policy)}`;
  return undefined;
}

function checkLoadAssignment(cla: EnvoyJson): string | undefined {
  if (!cla.cluster_name) return 'ClusterLoadAssignment.cluster_name: must not be empty';
  for (const [i, loc] of arr(cla.endpoints).entries()) {
    for (const [j, lb] of arr(obj(loc)?.lb_endpoints).entries()) {
      const sa = obj(obj(obj(obj(lb)?.endpoint)?.address)?.socket_address);
      if (sa && !sa.address) return `ClusterLoadAssignment ${cla.cluster_name}: endpoints[${i}].lb_endpoints[${j}].endpoint.address.socket_address.address must not be empty`;
    }
  }
  return undefined;
}

function checkHcm(hcm: EnvoyJson, where: string): string | undefined {
  const filters = arr(hcm.http_filters).map(obj);
  if (filters.length === 0) return undefined;
  const names = new Set<string>();
  for (const [i, f] of filters.entries()) {
    const name = String(f?.name ?? '');
    if (!name) return `${where}.http_filters[${i}].name: must not be empty`;
    if (names.has(name)) return `${where}.http_filters[${i}]: duplicate http filter name "${name}"`;
    names.add(name);
    const isRouter = obj(f?.typed_config)?.['@type'] === ROUTER;
    if (isRouter && i !== filters.length - 1) return `${where}: terminal filter named ${name} of type envoy.filters.http.router must be the last filter in a http filter chain`;
  }
  const last = filters[filters.length - 1];
  if (obj(last?.typed_config)?.['@type'] !== ROUTER && !obj(last?.config_discovery)) {
    return `${where}: non-terminal filter named ${String(last?.name)} is the last filter in a http filter chain (the router must come last)`;
  }
  const rc = obj(hcm.route_config);
  if (rc) return checkRouteConfig(rc, `${where}.route_config`);
  return undefined;
}

function checkListener(l: EnvoyJson): string | undefined {
  if (!l.name) return 'Listener.name: must not be empty';
  if (!obj(l.address) && !obj(l.api_listener) && !obj(l.internal_listener)) return `Listener ${l.name}: address is required`;
  const api = obj(obj(l.api_listener)?.api_listener);
  if (api?.['@type'] === HCM) {
    const p = checkHcm(api, `Listener ${l.name}.api_listener`);
    if (p) return p;
  }
  const matches = new Set<string>();
  for (const [i, fcJson] of arr(l.filter_chains).entries()) {
    const fc = obj(fcJson) ?? {};
    const key = JSON.stringify(fc.filter_chain_match ?? {});
    if (matches.has(key)) return `Listener ${l.name}: filter_chains[${i}] has the same matching rules as an earlier filter chain; duplicate matcher is: ${key}`;
    matches.add(key);
    for (const [j, f] of arr(fc.filters).entries()) {
      const tc = obj(obj(f)?.typed_config);
      if (tc?.['@type'] === HCM) {
        const p = checkHcm(tc, `Listener ${l.name}.filter_chains[${i}].filters[${j}]`);
        if (p) return p;
      }
    }
  }
  return checkRegexes(l, `Listener ${l.name}`);
}

function checkRouteConfig(rc: EnvoyJson, where: string): string | undefined {
  const domains = new Set<string>();
  for (const [i, vhJson] of arr(rc.virtual_hosts).entries()) {
    const vh = obj(vhJson) ?? {};
    const name = String(vh.name ?? '');
    if (!name) return `${where}.virtual_hosts[${i}].name: must not be empty`;
    const ds = arr(vh.domains);
    if (ds.length === 0) return `${where}.virtual_hosts[${i}] (${name}).domains: must have at least one domain`;
    for (const d of ds) {
      const dl = String(d).toLowerCase();
      if (domains.has(dl)) return `${where}: only unique values for domains are permitted, duplicate entry of domain ${String(d)} in virtual host ${name}`;
      domains.add(dl);
    }
    for (const [j, rJson] of arr(vh.routes).entries()) {
      const r = obj(rJson) ?? {};
      const at = `${where}.virtual_hosts[${i}].routes[${j}]`;
      if (!obj(r.match)) return `${at}.match: is required`;
      const action = obj(r.route);
      if (!action && !obj(r.redirect) && !obj(r.direct_response) && !obj(r.non_forwarding_action) && !obj(r.filter_action)) return `${at}: one of route, redirect, direct_response is required`;
      const wc = obj(action?.weighted_clusters);
      if (wc) {
        const cs = arr(wc.clusters).map(obj);
        if (cs.length === 0) return `${at}.route.weighted_clusters.clusters: must have at least one cluster`;
        const sum = cs.reduce((s, c) => s + Number(c?.weight ?? 0), 0);
        if (!(sum > 0)) return `${at}.route.weighted_clusters: sum of weights must be greater than 0`;
      }
    }
  }
  return checkRegexes(rc, where);
}

/** The first Envoy rule `resource` (JSON form, of type `typeUrl`) breaks, or undefined. */
export function envoyRuleProblem(typeUrl: string, resource: EnvoyJson): string | undefined {
  switch (typeUrl) {
    case TypeUrl.Cluster:
      return checkCluster(resource);
    case TypeUrl.ClusterLoadAssignment:
      return checkLoadAssignment(resource);
    case TypeUrl.Listener:
      return checkListener(resource);
    case TypeUrl.RouteConfiguration:
      if (!resource.name) return 'RouteConfiguration.name: must not be empty';
      return checkRouteConfig(resource, `RouteConfiguration ${resource.name}`);
    case TypeUrl.Secret:
      return resource.name ? undefined : 'Secret.name: must not be empty';
    default:
      return undefined;
  }
}

/** The name a resource is known by in xDS (CLA's cluster_name, everyone else's name). */
export function resourceName(typeUrl: string, resource: EnvoyJson): string {
  const n = typeUrl === TypeUrl.ClusterLoadAssignment ? resource.cluster_name : resource.name;
  return typeof n === 'string' ? n : '';
}

/**
 * The Envoy v3 bootstrap (`-c FILE` YAML/JSON, `--config-yaml` merged over it, as Envoy does):
 * checked against Envoy's schema by the codec (unknown fields and bad types fail like Envoy's
 * "Protobuf message ... has unknown fields"), normalized to Envoy's JSON form, then read with
 * `Fields` so every field Spar does not implement is rejected by name.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { decodeMessage, encodeMessage, type EnvoyJson } from '../xds/codec.js';
import { ConfigErrors, Fields } from './config/fields.js';
import { applyStaticLayer } from './runtime.js';

export const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';

export interface Bootstrap {
  json: EnvoyJson;
  node: { id: string; cluster: string; metadata: Record<string, unknown>; json: EnvoyJson };
  staticListeners: EnvoyJson[];
  staticClusters: EnvoyJson[];
  staticSecrets: EnvoyJson[];
  ads?: { clusterName: string; apiType: 'GRPC' | 'DELTA_GRPC'; setNodeOnFirstMessageOnly: boolean };
  cdsFromAds: boolean;
  ldsFromAds: boolean;
  admin?: { ip: string; port: number; accessLogs: Fields[] };
}

function mergeDeep(a: unknown, b: unknown): unknown {
  if (b && typeof b === 'object' && !Array.isArray(b) && a && typeof a === 'object' && !Array.isArray(a)) {
    const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
    for (const [k, v] of Object.entries(b)) out[k] = mergeDeep(out[k], v);
    return out;
  }
  if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b]; // proto MergeFrom appends repeated fields
  return b;
}

/** Reads and merges the config sources; throws with a message naming the file and problem. */
export function loadBootstrapJson(path: string | undefined, yamlText: string | undefined): EnvoyJson {
  let doc: unknown = {};
  if (path) {
    const text = readFileSync(path, 'utf8');
    try {
      doc = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
    } catch (e) {
      throw new Error(`${path}: cannot parse: ${(e as Error).message}`, { cause: e });
    }
  }
  if (yamlText) doc = mergeDeep(doc, parseYaml(yamlText));
  if (!doc || typeof doc !== 'object') throw new Error('the bootstrap must be a YAML/JSON object');
  try {
    return decodeMessage(BOOTSTRAP_TYPE, encodeMessage(BOOTSTRAP_TYPE, doc as EnvoyJson));
  } catch (e) {
    throw new Error(`invalid bootstrap: ${(e as Error).message}`, { cause: e });
  }
}

export function readBootstrap(json: EnvoyJson, errs: ConfigErrors, overrides: { serviceNode?: string; serviceCluster?: string }): Bootstrap {
  const f = new Fields(json, 'Bootstrap', errs);
  const n = f.obj_('node');
  const node = {
    id: overrides.serviceNode ?? n.str('id'),
    cluster: overrides.serviceCluster ?? n.str('cluster'),
    metadata: (n.raw('metadata') as Record<string, unknown>) ?? {},
    json: n.obj,
  };
  n.ignore('locality', 'user_agent_name', 'user_agent_version', 'user_agent_build_version', 'extensions', 'client_features', 'listening_addresses', 'dynamic_parameters');
  n.done();
  const b: Bootstrap = { json, node, staticListeners: [], staticClusters: [], staticSecrets: [], cdsFromAds: false, ldsFromAds: false };
  const sr = f.opt('static_resources');
  if (sr) {
    b.staticListeners = (sr.raw('listeners') as EnvoyJson[]) ?? [];
    b.staticClusters = (sr.raw('clusters') as EnvoyJson[]) ?? [];
    b.staticSecrets = (sr.raw('secrets') as EnvoyJson[]) ?? [];
    sr.done();
  }
  const dr = f.opt('dynamic_resources');
  if (dr) {
    const ads = dr.opt('ads_config');
    if (ads) {
      const apiType = ads.enumOf('api_type', ['GRPC', 'DELTA_GRPC'] as const, 'GRPC');
      ads.enumOf('transport_api_version', ['V3'] as const, 'V3');
      ads.bool('set_node_on_first_message_only');
      const gs = ads.list('grpc_services');
      let clusterName = '';
      if (gs.length !== 1) ads.error('grpc_services', 'exactly one gRPC service is required');
      for (const g of gs) {
        const eg = g.opt('envoy_grpc');
        if (eg) {
          clusterName = eg.str('cluster_name');
          eg.unsupported('authority');
          eg.unsupported('retry_policy');
          eg.num('max_receive_message_length');
          eg.bool('skip_envoy_headers');
          eg.done();
        }
        g.unsupported('google_grpc', 'google_grpc is not supported by spar proxy (use envoy_grpc)');
        g.durationMs('timeout', 0);
        g.unsupported('initial_metadata', 'not supported by spar proxy yet');
        g.unsupported('retry_policy');
        g.done();
      }
      ads.unsupported('rate_limit_settings');
      ads.unsupported('config_validators');
      ads.unsupported('xds_config_tracker_extension');
      ads.unsupported('custom_config_validators');
      ads.unsupported('cluster_names');
      ads.durationMs('refresh_delay', 0);
      ads.durationMs('request_timeout', 0);
      ads.done();
      b.ads = { clusterName, apiType, setNodeOnFirstMessageOnly: !!ads.obj.set_node_on_first_message_only };
    }
    const readSrc = (k: string): boolean => {
      const s = dr.opt(k);
      if (!s) return false;
      if (!s.has('ads')) s.error('', 'only ads config sources are supported by spar proxy');
      s.opt('ads')?.done();
      s.enumOf('resource_api_version', ['V3'] as const, 'V3');
      s.durationMs('initial_fetch_timeout', 15000);
      s.done();
      return true;
    };
    b.cdsFromAds = readSrc('cds_config');
    b.ldsFromAds = readSrc('lds_config');
    dr.unsupported('cds_resources_locator', 'xDS-TP locators are not supported by spar proxy');
    dr.unsupported('lds_resources_locator', 'xDS-TP locators are not supported by spar proxy');
    dr.done();
    if ((b.cdsFromAds || b.ldsFromAds) && !b.ads) f.error('dynamic_resources', 'cds_config/lds_config with ads need ads_config');
  }
  const ad = f.opt('admin');
  if (ad) {
    const a = ad.obj_('address');
    const sa = a.obj_('socket_address');
    b.admin = { ip: sa.str('address'), port: sa.num('port_value'), accessLogs: ad.list('access_log') };
    sa.enumOf('protocol', ['TCP'] as const, 'TCP');
    sa.done();
    a.done();
    const alp = ad.str('access_log_path');
    if (alp && alp !== '/dev/null') ad.error('access_log_path', 'admin access logs are not supported by spar proxy (use /dev/null)');
    ad.ignore('profile_path');
    ad.bool('ignore_global_conn_limit');
    ad.unsupported('socket_options');
    ad.done();
    if (b.admin.accessLogs.length) ad.error('access_log', 'admin access logs are not supported by spar proxy');
  }
  f.durationMs('stats_flush_interval', 5000);
  f.unsupported('stats_config', 'stats_config (tag extraction, matchers) is not supported by spar proxy yet');
  f.unsupported('stats_sinks', 'stats sinks are not supported by spar proxy (scrape /stats/prometheus)');
  f.unsupported('tracing', 'tracing is not supported by spar proxy yet');
  const lr = f.opt('layered_runtime');
  if (lr) {
    for (const layer of lr.list('layers')) {
      layer.ignore('name');
      const sl = layer.raw('static_layer');
      if (sl && typeof sl === 'object') for (const e of applyStaticLayer(sl as Record<string, unknown>, `${layer.path}.static_layer`)) errs.list.push(e);
      layer.opt('admin_layer')?.done();
      layer.unsupported('disk_layer', 'disk runtime layers are not supported by spar proxy');
      layer.unsupported('rtds_layer', 'RTDS is not supported by spar proxy');
      layer.done();
    }
    lr.done();
  }
  f.unsupported('overload_manager', 'the overload manager is not supported by spar proxy');
  f.unsupported('bootstrap_extensions', 'bootstrap extensions are not supported by spar proxy');
  f.unsupported('cluster_manager', 'cluster_manager settings are not supported by spar proxy yet');
  f.unsupported('hds_config', 'health discovery is not supported by spar proxy');
  f.unsupported('watchdogs');
  f.unsupported('watchdog');
  f.unsupported('fatal_actions');
  f.unsupported('default_socket_interface');
  f.unsupported('inline_headers');
  f.unsupported('header_prefix', 'a custom header prefix is not supported by spar proxy');
  f.unsupported('default_regex_engine');
  f.unsupported('xds_delegate_extension');
  f.unsupported('xds_config_tracker_extension');
  f.unsupported('application_log_config');
  f.unsupported('certificate_provider_instances', 'not supported by spar proxy yet');
  f.unsupported('dns_resolution_config');
  f.unsupported('typed_dns_resolver_config');
  f.unsupported('node_context_params');
  f.unsupported('config_sources');
  f.unsupported('default_config_source');
  f.unsupported('grpc_async_client_manager_config');
  f.unsupported('memory_allocator_manager');
  f.unsupported('listener_manager');
  f.unsupported('perf_tracing_file_path');
  f.bool('use_tcp_for_dns_lookups');
  f.bool('enable_dispatcher_stats');
  f.ignore('flags_path');
  f.done();
  return b;
}

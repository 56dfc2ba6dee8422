/**
 * envoy.config.listener.v3.Listener: compiled config (filter chains with their matches and network
 * filters) and the accept path: listener filters (original_dst, tls_inspector, http_inspector),
 * use_original_dst hand-off to the listener owning the original destination, filter chain
 * selection, then the chain's terminal network filter (http_connection_manager or tcp_proxy).
 */
import type { Socket } from 'node:net';
import { ConfigErrors, Fields, typeName } from '../config/fields.js';
import type { EnvoyJson } from '../../xds/codec.js';
import { compileHcm, HCM_TYPE } from '../filters/network/http_connection_manager/config.js';
import { HttpConnectionManager } from '../filters/network/http_connection_manager/hcm.js';
import { compileTcpProxy, TcpProxy, TCP_PROXY_TYPE } from '../filters/network/tcp_proxy/tcp-proxy.js';
import type { HttpEnv, ConnectionInfo } from '../http/stream.js';
import type { StatsStore } from '../stats/stats.js';
import { joinHostPort } from '../stream-info.js';
import { readChainMatch, selectChain, type ChainMatch, type ConnectionFacts } from './filter-chain-match.js';
import { parseClientHello, peek, sniffHttp } from './peek.js';
import type { TlsContext } from '../tls/context.js';
import { DownstreamTlsInfo } from '../tls/connection-info.js';
import { SecretManager } from '../tls/secrets.js';
import { readDownstreamTransport } from '../tls/transport-socket.js';

/** The terminal network filter of a chain. */
export interface ChainHandler {
  onConnection(socket: Socket, info: ConnectionInfo, alpn?: string): void;
  drain(): void;
  close(): void;
}

export interface FilterChain {
  name: string;
  match: ChainMatch;
  handler: ChainHandler;
  /** The chain's transport_socket when TLS (DownstreamTlsContext); undefined: plaintext. */
  tls?: TlsContext;
  /** transport_socket_connect_timeout: the TLS handshake's time limit, ms (0: none). */
  handshakeTimeoutMs: number;
  json: EnvoyJson;
}

export interface ListenerConfig {
  name: string;
  ip: string;
  port: number;
  chains: FilterChain[];
  defaultChain?: FilterChain;
  useOriginalDst: boolean;
  bindToPort: boolean;
  tlsInspector: boolean;
  httpInspector: boolean;
  /** filter_disabled of the inspectors: disabled for connections to these destination ports. */
  tlsDisabled?: PortPredicate;
  httpDisabled?: PortPredicate;
  originalDstFilter: boolean;
  listenerFiltersTimeoutMs: number;
  continueOnTimeout: boolean;
  /** RDS names the listener waits for before it serves (warming). */
  rdsNames: string[];
  /** TLS contexts of its chains: the listener warms until their SDS secrets are present. */
  tlsContexts: TlsContext[];
  direction: string;
  json: EnvoyJson;
}

export interface ListenerEnv extends HttpEnv {
  stats: StatsStore;
  nodeMetadata: Record<string, unknown>;
  /** SDS and static secrets (a private, empty one when absent). */
  secrets?: SecretManager;
}

const SNI_CLUSTER_TYPE = 'envoy.extensions.filters.network.sni_cluster.v3.SniCluster';

const LISTENER_FILTERS: Record<string, 'tls' | 'http' | 'odst'> = {
  'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector': 'tls',
  'envoy.extensions.filters.listener.http_inspector.v3.HttpInspector': 'http',
  'envoy.extensions.filters.listener.original_dst.v3.OriginalDst': 'odst',
};

function readChain(f: Fields, errs: ConfigErrors, env: ListenerEnv, direction: string, rds: string[]): FilterChain | undefined {
  const name = f.str('name');
  const match = readChainMatch(f.opt('filter_chain_match'));
  f.ignore('metadata');
  const tls = readDownstreamTransport(f, (env.secrets ??= new SecretManager()));
  const handshakeTimeoutMs = f.durationMs('transport_socket_connect_timeout', 0);
  f.unsupported('filter_chain_matcher');
  let handler: ChainHandler | undefined;
  const filters = f.list('filters');
  let sniCluster = false;
  filters.forEach((nf, i) => {
    const fname = nf.str('name');
    const tc = nf.opt('typed_config');
    nf.unsupported('config_discovery', 'filter config discovery (ECDS) is not supported by spar proxy');
    nf.done();
    const t = tc ? typeName(tc.str('@type')) : '';
    // envoy.filters.network.sni_cluster: the tcp_proxy after it connects to the cluster the SNI names.
    if (t === SNI_CLUSTER_TYPE && i === filters.length - 2 && typeName(String((filters[i + 1].obj.typed_config as EnvoyJson | undefined)?.['@type'] ?? '')) === TCP_PROXY_TYPE) {
      tc!.done();
      sniCluster = true;
      return;
    }
    if (i !== filters.length - 1) {
      nf.error('', `network filter ${JSON.stringify(fname)} (${t}) is not supported by spar proxy (only a terminal http_connection_manager or tcp_proxy)`);
      return;
    }
    if (t === HCM_TYPE) {
      const cfg = compileHcm(tc!, errs, { stats: env.stats, direction, nodeMetadata: env.nodeMetadata, clusterExists: (n) => env.clusters.get(n) !== undefined });
      if (cfg.rdsName !== undefined) rds.push(cfg.rdsName);
      handler = new LazyHcm(cfg, env);
    } else if (t === TCP_PROXY_TYPE) {
      handler = new TcpProxy(compileTcpProxy(tc!, errs), env.clusters, env.stats, sniCluster);
    } else {
      nf.error('', `network filter ${JSON.stringify(fname)} (${t || 'no typed_config'}) is not supported by spar proxy`);
    }
  });
  f.done();
  if (!handler) {
    if (filters.length === 0) f.error('filters', 'at least one network filter is required');
    return undefined;
  }
  return { name, match, handler, tls, handshakeTimeoutMs, json: f.obj };
}

/** Builds the HCM's codec servers only when the first connection arrives. */
class LazyHcm implements ChainHandler {
  private hcm: HttpConnectionManager | undefined;
  private drained = false;
  constructor(readonly cfg: ReturnType<typeof compileHcm>, private readonly env: ListenerEnv) {}
  onConnection(socket: Socket, info: ConnectionInfo, alpn?: string): void {
    if (!this.hcm) {
      this.hcm = new HttpConnectionManager(this.cfg, this.env, this.env.stats);
      if (this.drained) this.hcm.drain();
    }
    this.hcm.onConnection(socket, info, alpn);
  }
  drain(): void {
    this.drained = true;
    this.hcm?.drain();
  }
  close(): void {
    this.hcm?.close();
  }
}

export function compileListener(json: EnvoyJson, errs: ConfigErrors, env: ListenerEnv): ListenerConfig {
  const name = typeof json.name === 'string' ? json.name : '';
  const f = new Fields(json, `Listener ${JSON.stringify(name)}`, errs);
  f.ignore('name', 'metadata', 'stat_prefix');
  const addr = f.obj_('address');
  const sa = addr.obj_('socket_address');
  const ip = sa.str('address');
  const port = sa.num('port_value');
  sa.enumOf('protocol', ['TCP'] as const, 'TCP');
  sa.unsupported('named_port');
  sa.unsupported('resolver_name');
  sa.bool('ipv4_compat');
  sa.done();
  addr.unsupported('pipe', 'unix domain socket listeners are not supported by spar proxy yet');
  addr.unsupported('envoy_internal_address', 'internal listeners are not supported by spar proxy');
  addr.done();
  const direction = f.enumOf('traffic_direction', ['UNSPECIFIED', 'INBOUND', 'OUTBOUND'] as const, 'UNSPECIFIED');
  const cfg: ListenerConfig = {
    name, ip, port, chains: [], useOriginalDst: f.bool('use_original_dst'), bindToPort: f.bool('bind_to_port', true),
    tlsInspector: false, httpInspector: false, originalDstFilter: false,
    listenerFiltersTimeoutMs: f.durationMs('listener_filters_timeout', 15000),
    continueOnTimeout: f.bool('continue_on_listener_filters_timeout'),
    rdsNames: [], tlsContexts: [], direction, json,
  };
  const dp = f.opt('deprecated_v1');
  if (dp) {
    if (!dp.bool('bind_to_port', true)) cfg.bindToPort = false;
    dp.done();
  }
  for (const lf of f.list('listener_filters')) {
    const lname = lf.str('name');
    const tc = lf.opt('typed_config');
    const t = tc ? typeName(tc.str('@type')) : '';
    const kind = LISTENER_FILTERS[t];
    if (tc) {
      if (kind === 'tls') {
        tc.unsupportedIfSet('enable_ja3_fingerprinting', 'not supported by spar proxy');
        tc.unsupportedIfSet('enable_ja4_fingerprinting', 'not supported by spar proxy');
        tc.num('initial_read_buffer_size');
      }
      tc.done();
    }
    const disabled = lf.opt('filter_disabled');
    const pred = disabled ? readPredicate(disabled) : undefined;
    if (pred && kind === 'odst') lf.error('filter_disabled', 'not supported by spar proxy on original_dst');
    lf.unsupported('config_discovery');
    lf.done();
    if (kind === 'tls') {
      cfg.tlsInspector = true;
      cfg.tlsDisabled = pred;
    } else if (kind === 'http') {
      cfg.httpInspector = true;
      cfg.httpDisabled = pred;
    }
    else if (kind === 'odst') cfg.originalDstFilter = true;
    else lf.error('', `listener filter ${JSON.stringify(lname)} (${t || 'no typed_config'}) is not supported by spar proxy`);
  }
  for (const c of f.list('filter_chains')) {
    const chain = readChain(c, errs, env, direction, cfg.rdsNames);
    if (chain) cfg.chains.push(chain);
  }
  if (f.has('default_filter_chain')) cfg.defaultChain = readChain(f.obj_('default_filter_chain'), errs, env, direction, cfg.rdsNames);
  for (const c of [...cfg.chains, ...(cfg.defaultChain ? [cfg.defaultChain] : [])]) if (c.tls) cfg.tlsContexts.push(c.tls);
  f.num('per_connection_buffer_limit_bytes'); // Node streams apply backpressure per connection
  f.enumOf('drain_type', ['DEFAULT', 'MODIFY_ONLY'] as const, 'DEFAULT');
  f.bool('enable_reuse_port');
  f.unsupportedIfSet('freebind', 'not supported by spar proxy');
  f.unsupportedIfSet('transparent', 'not supported by spar proxy');
  f.unsupported('socket_options', 'raw socket options are not supported by spar proxy');
  f.unsupported('tcp_fast_open_queue_length', 'not supported by spar proxy');
  f.unsupported('connection_balance_config', 'not supported by spar proxy (one accept loop)');
  f.unsupported('access_log', 'listener access logs are not supported by spar proxy yet');
  f.unsupported('udp_listener_config', 'UDP listeners are not supported by spar proxy');
  f.unsupported('additional_addresses', 'not supported by spar proxy yet');
  f.unsupported('api_listener', 'not supported by spar proxy');
  f.unsupported('internal_listener', 'not supported by spar proxy');
  f.unsupported('filter_chain_matcher', 'the matcher API for filter chains is not supported by spar proxy yet');
  f.unsupported('listener_specifier');
  f.unsupported('max_connections_to_accept_per_socket_event');
  f.unsupported('ignore_global_conn_limit');
  f.unsupported('bypass_overload_manager');
  f.unsupported('fcds_config');
  f.done();
  if (!ip) errs.add(`Listener ${JSON.stringify(name)}.address.socket_address.address`, 'required');
  return cfg;
}

type PortPredicate = (port: number) => boolean;

/** envoy.config.listener.v3.ListenerFilterChainMatchPredicate (the destination-port subset Istio uses). */
function readPredicate(f: Fields): PortPredicate {
  let p: PortPredicate = () => false;
  if (f.has('any_match')) p = () => f.obj.any_match === true;
  if (f.has('destination_port_range')) {
    const r = f.obj_('destination_port_range');
    const start = r.num('start'), end = r.num('end');
    r.done();
    p = (port) => port >= start && port < end;
  }
  if (f.has('not_match')) {
    const inner = readPredicate(f.obj_('not_match'));
    p = (port) => !inner(port);
  }
  for (const k of ['or_match', 'and_match'] as const) {
    if (!f.has(k)) continue;
    const set = f.obj_(k);
    const rules = set.list('rules').map(readPredicate);
    set.done();
    p = k === 'or_match' ? (port) => rules.some((x) => x(port)) : (port) => rules.every((x) => x(port));
  }
  f.ignore('any_match');
  f.done();
  return p;
}

let nextConnectionId = 1;

/** Runs one accepted connection through a listener config (also the target of an original-dst hand-off). */
export async function acceptConnection(
  cfg: ListenerConfig,
  socket: Socket,
  originalDst: ((s: Socket) => { address: string; port: number } | undefined) | undefined,
  handOff: ((ip: string, port: number) => ListenerConfig | undefined) | undefined,
  onNoChain: () => void,
): Promise<void> {
  socket.on('error', () => {});
  const remoteIp = socket.remoteAddress ?? '';
  const remotePort = socket.remotePort ?? 0;
  let localIp = socket.localAddress ?? '';
  let localPort = socket.localPort ?? 0;
  let od: { ip: string; port: number } | undefined;
  if ((cfg.originalDstFilter || cfg.useOriginalDst) && originalDst) {
    const o = originalDst(socket);
    if (o) {
      od = { ip: o.address, port: o.port };
      localIp = o.address;
      localPort = o.port;
    }
  }
  let target = cfg;
  if (cfg.useOriginalDst && od && handOff) {
    const t = handOff(od.ip, od.port);
    if (t && t !== cfg) target = t;
  }
  const facts: ConnectionFacts = { localIp, localPort, remoteIp, remotePort, directRemoteIp: remoteIp, sni: '', transportProtocol: 'raw_buffer', alpn: [] };
  const tls = target.tlsInspector && !target.tlsDisabled?.(localPort);
  const http = target.httpInspector && !target.httpDisabled?.(localPort);
  if (tls || http) {
    const first = await peek(socket, target.listenerFiltersTimeoutMs);
    if (first.length === 0 && !target.continueOnTimeout && !socket.readableEnded) {
      socket.destroy();
      return;
    }
    if (tls) {
      const hello = parseClientHello(first);
      if (hello) {
        facts.transportProtocol = 'tls';
        facts.sni = hello.sni;
        facts.alpn = hello.alpn;
      }
    }
    if (http && facts.transportProtocol !== 'tls') {
      const p = sniffHttp(first);
      if (p) facts.alpn = [p === 'http/1.0' ? 'http/1.0' : p];
    }
  }
  const chain = selectChain(target.chains, facts) ?? target.defaultChain;
  if (!chain) {
    onNoChain();
    socket.destroy();
    return;
  }
  const info: ConnectionInfo = {
    remote: joinHostPort(remoteIp, remotePort),
    remoteIp,
    local: joinHostPort(localIp, localPort),
    direct: joinHostPort(remoteIp, remotePort),
    connectionId: nextConnectionId++,
    tls: false,
    sni: facts.sni,
    originalDst: od ?? { ip: localIp, port: localPort },
  };
  const tlsCtx = chain.tls;
  if (!tlsCtx) return chain.handler.onConnection(socket, info);
  tlsCtx.accept(socket, chain.handshakeTimeoutMs, (t) => {
    info.tls = true;
    info.tlsInfo = new DownstreamTlsInfo(t);
    if (t.servername) info.sni = t.servername;
    chain.handler.onConnection(t, info);
  }, facts.transportProtocol === 'tls' ? facts.alpn : undefined);
}

/**
 * Traffic policies (DestinationRule `trafficPolicy`, subsets and `portLevelSettings`; Sidecar
 * connection pools): connection pool limits must be non-negative, timeouts whole milliseconds,
 * outlier detection percentages within 0..100, load balancer settings consistent (maglev table
 * size prime, one ring-size setting, cookie named, locality weights summing to 100), TLS (tls.ts).
 */
import { isZeroMillis, validateDuration } from './duration.js';
import { isIPAddress, validateFQDN } from './hosts.js';
import { validatePort } from './ports.js';
import { at, entries, has, isObj, list, num, str, type Obj, type Report } from './report.js';
import { validateClientTLS } from './tls.js';

export function validateTrafficPolicy(rep: Report, path: string, namespace: string, policy: unknown): void {
  if (!isObj(policy)) return;
  const fields = ['outlierDetection', 'connectionPool', 'loadBalancer', 'tls', 'portLevelSettings', 'tunnel', 'proxyProtocol', 'retryBudget'];
  if (!fields.some((f) => has(policy[f]))) return rep.error(path, 'traffic policy must have at least one field');
  if (has(policy.tunnel) && has(policy.proxyProtocol)) return rep.error(path, 'tunnel and proxyProtocol must not be set together');
  validateOutlierDetection(rep, at(path, 'outlierDetection'), policy.outlierDetection);
  validateConnectionPool(rep, at(path, 'connectionPool'), policy.connectionPool);
  validateLoadBalancer(rep, at(path, 'loadBalancer'), policy.loadBalancer, policy.outlierDetection);
  validateClientTLS(rep, at(path, 'tls'), namespace, policy.tls);
  list<unknown>(policy.portLevelSettings).forEach((pl, i) => validatePortPolicy(rep, at(at(path, 'portLevelSettings'), i), namespace, pl));
  validateTunnel(rep, at(path, 'tunnel'), policy.tunnel);
}

function validatePortPolicy(rep: Report, path: string, namespace: string, pl: unknown): void {
  if (!isObj(pl)) return rep.error(path, 'traffic policy may not be null');
  if (!has(pl.port)) rep.error(at(path, 'port'), 'portTrafficPolicy must have valid port');
  if (!['outlierDetection', 'connectionPool', 'loadBalancer', 'tls'].some((f) => has(pl[f]))) {
    return rep.error(path, 'port traffic policy must have at least one field');
  }
  validateOutlierDetection(rep, at(path, 'outlierDetection'), pl.outlierDetection);
  validateConnectionPool(rep, at(path, 'connectionPool'), pl.connectionPool);
  validateLoadBalancer(rep, at(path, 'loadBalancer'), pl.loadBalancer, pl.outlierDetection);
  validateClientTLS(rep, at(path, 'tls'), namespace, pl.tls);
}

function validateTunnel(rep: Report, path: string, tunnel: unknown): void {
  if (!isObj(tunnel)) return;
  const protocol = str(tunnel.protocol);
  if (protocol !== '' && protocol !== 'CONNECT' && protocol !== 'POST') rep.error(at(path, 'protocol'), 'tunnel protocol must be "CONNECT" or "POST"');
  const host = str(tunnel.targetHost);
  const fqdnErr = validateFQDN(host);
  if (fqdnErr && !isIPAddress(host)) rep.error(at(path, 'targetHost'), `tunnel target host must be valid FQDN or IP address: ${fqdnErr}; ${host} is not a valid IP`);
  const portErr = validatePort(num(tunnel.targetPort));
  if (portErr) rep.error(at(path, 'targetPort'), `tunnel target port is invalid: ${portErr}`);
}

function percent(rep: Report, path: string, v: unknown): void {
  const n = num(v);
  if (n < 0 || n > 100) rep.error(path, `percentage ${n} is not in range 0..100`);
}

export function validateOutlierDetection(rep: Report, path: string, od: unknown): void {
  if (!isObj(od)) return;
  if (has(od.baseEjectionTime)) rep.check(at(path, 'baseEjectionTime'), validateDuration(od.baseEjectionTime));
  if (num(od.consecutiveErrors) !== 0) {
    rep.warn(at(path, 'consecutiveErrors'), 'outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead');
  }
  if (od.splitExternalLocalOriginErrors !== true && num(od.consecutiveLocalOriginFailures) > 0) {
    rep.error(at(path, 'consecutiveLocalOriginFailures'), 'outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false');
  }
  if (has(od.interval)) rep.check(at(path, 'interval'), validateDuration(od.interval));
  percent(rep, at(path, 'maxEjectionPercent'), od.maxEjectionPercent);
  percent(rep, at(path, 'minHealthPercent'), od.minHealthPercent);
}

export function validateConnectionPool(rep: Report, path: string, cp: unknown): void {
  if (!isObj(cp)) return;
  if (!has(cp.http) && !has(cp.tcp)) return rep.error(path, 'connection pool must have at least one field');
  if (isObj(cp.http)) {
    const h = cp.http;
    const p = at(path, 'http');
    const nonNeg: [string, string][] = [
      ['http1MaxPendingRequests', 'http1 max pending requests'], ['http2MaxRequests', 'http2 max requests'],
      ['maxRequestsPerConnection', 'max requests per connection'], ['maxRetries', 'max retries'],
    ];
    for (const [f, text] of nonNeg) if (num(h[f]) < 0) rep.error(at(p, f), `${text} must be non-negative`);
    if (has(h.idleTimeout)) rep.check(at(p, 'idleTimeout'), validateDuration(h.idleTimeout));
    if (h.h2UpgradePolicy === 'UPGRADE' && h.useClientProtocol === true) {
      rep.error(at(p, 'useClientProtocol'), 'use client protocol must not be true when H2UpgradePolicy is UPGRADE');
    }
    if (num(h.maxConcurrentStreams) < 0) rep.error(at(p, 'maxConcurrentStreams'), 'max concurrent streams must be non-negative');
    if (isObj(h.http2KeepAlive)) {
      const ka = h.http2KeepAlive;
      const kp = at(p, 'http2KeepAlive');
      if (!has(ka.interval)) rep.error(at(kp, 'interval'), 'http2 keepalive interval is required');
      else rep.check(at(kp, 'interval'), validateDuration(ka.interval));
      if (!has(ka.timeout)) rep.error(at(kp, 'timeout'), 'http2 keepalive timeout is required');
      else rep.check(at(kp, 'timeout'), validateDuration(ka.timeout));
    }
  }
  if (isObj(cp.tcp)) {
    const t = cp.tcp;
    const p = at(path, 'tcp');
    if (num(t.maxConnections) < 0) rep.error(at(p, 'maxConnections'), 'max connections must be non-negative');
    for (const f of ['connectTimeout', 'maxConnectionDuration']) if (has(t[f])) rep.check(at(p, f), validateDuration(t[f]));
    if (has(t.idleTimeout) && !isZeroMillis(str(t.idleTimeout))) rep.check(at(p, 'idleTimeout'), validateDuration(t.idleTimeout));
    if (isObj(t.tcpKeepalive)) {
      for (const f of ['time', 'interval']) if (has(t.tcpKeepalive[f])) rep.check(at(at(p, 'tcpKeepalive'), f), validateDuration(t.tcpKeepalive[f]));
    }
  }
}

function isPrime(x: number): boolean {
  if (x !== 0 && x < 4) return true;
  if (x % 2 === 0) return false;
  const limit = Math.floor(Math.sqrt(x));
  for (let f = 3; f <= limit; f += 2) if (x % f === 0) return false;
  return true;
}

function validateLoadBalancer(rep: Report, path: string, lb: unknown, outlier: unknown): void {
  if (!isObj(lb)) return;
  if (isObj(lb.consistentHash)) {
    const ch = lb.consistentHash;
    const p = at(path, 'consistentHash');
    if (isObj(ch.httpCookie)) {
      const cookie = ch.httpCookie;
      if (str(cookie.name) === '') rep.error(at(at(p, 'httpCookie'), 'name'), 'name required for HttpCookie');
      const names = new Set<string>();
      list<unknown>(cookie.attributes).forEach((a, i) => {
        const ap = at(at(at(p, 'httpCookie'), 'attributes'), i);
        const n = isObj(a) ? str(a.name) : '';
        if (n === '') return rep.error(ap, 'cookie attribute name cannot be empty');
        if (names.has(n)) rep.error(ap, `duplicate cookie attribute name: ${n}`);
        names.add(n);
      });
    }
    if (num(ch.minimumRingSize) !== 0) {
      rep.warn(at(p, 'minimumRingSize'), "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash configuration instead");
      if (has(ch.ringHash) || has(ch.maglev)) rep.error(p, 'only one of MinimumRingSize or Maglev/Ringhash can be specified');
    }
    if (isObj(ch.maglev)) {
      const size = num(ch.maglev.tableSize);
      const mp = at(at(p, 'maglev'), 'tableSize');
      if (size === 0) rep.error(mp, 'tableSize must be set for maglev');
      if (size >= 5000011) rep.error(mp, 'tableSize must be less than 5000011 for maglev');
      if (!isPrime(size)) rep.error(mp, 'tableSize must be a prime number for maglev');
    }
  }
  if (has(lb.localityLbSetting) && has(lb.zoneAwareLbSetting)) rep.error(path, 'only one of localityLbSetting and zoneAwareLbSetting can be set');
  validateLocalityLb(rep, at(path, 'localityLbSetting'), lb.localityLbSetting, outlier);
  validateZoneAwareLb(rep, at(path, 'zoneAwareLbSetting'), lb.zoneAwareLbSetting, outlier);
  if (isObj(lb.warmup)) {
    const w = lb.warmup;
    const p = at(path, 'warmup');
    if (!has(w.duration)) rep.error(at(p, 'duration'), 'duration is required');
    else rep.check(at(p, 'duration'), validateDuration(w.duration));
    if (num(w.minimumPercent) > 100) rep.error(at(p, 'minimumPercent'), 'minimumPercent value should be less than or equal to 100');
    if (has(w.aggression) && num(w.aggression) <= 0) rep.error(at(p, 'aggression'), 'aggression should be greater than 0');
  }
}

const TOPOLOGY_LABELS = ['topology.kubernetes.io/region', 'topology.kubernetes.io/zone', 'topology.istio.io/subzone'];

function validateLocalityLb(rep: Report, path: string, lb: unknown, outlier: unknown): void {
  if (!isObj(lb)) return;
  const distribute = list<unknown>(lb.distribute);
  const failover = list<unknown>(lb.failover);
  const priority = list<unknown>(lb.failoverPriority).map(str);
  if (distribute.length && failover.length) return rep.error(path, "can not simultaneously specify 'distribute' and 'failover'");
  if (failover.length && priority.length) {
    const topo = priority.find((l) => TOPOLOGY_LABELS.includes(l));
    if (topo) return rep.error(at(path, 'failoverPriority'), `can not simultaneously set 'failover' and topology label '${topo}' in 'failover_priority'`);
  }
  const sources: string[] = [];
  for (const [i, d] of distribute.entries()) {
    const dp = at(at(path, 'distribute'), i);
    if (!isObj(d)) continue;
    sources.push(str(d.from));
    let total = 0;
    const dests: string[] = [];
    for (const [loc, w] of entries(d.to)) {
      dests.push(loc);
      const weight = num(w);
      if (weight <= 0 || weight > 100) return rep.error(at(dp, 'to'), 'locality weight must be in range [1, 100]');
      total += weight;
    }
    if (total !== 100) return rep.error(at(dp, 'to'), `total locality weight ${total} != 100`);
    rep.check(at(dp, 'to'), validateLocalities(dests));
  }
  rep.check(at(path, 'distribute'), validateLocalities(sources));
  if ((failover.length || priority.length) && !has(outlier)) rep.warn(path, 'outlier detection policy must be provided for failover');
  failover.forEach((f, i) => {
    const fp = at(at(path, 'failover'), i);
    const from = isObj(f) ? str(f.from) : '';
    const to = isObj(f) ? str(f.to) : '';
    if (from === to) rep.error(fp, 'locality lb failover settings must specify different regions');
    if (from.includes('/') || to.includes('/')) rep.error(fp, 'locality lb failover only specify region');
    if (from.includes('*') || to.includes('*')) rep.error(fp, "locality lb failover region should not contain '*' wildcard");
  });
}

function validateZoneAwareLb(rep: Report, path: string, lb: unknown, outlier: unknown): void {
  if (!isObj(lb)) return;
  const failover = list<unknown>(lb.failover);
  const priority = list<unknown>(lb.failoverPriority).map(str);
  for (const l of priority) {
    if (TOPOLOGY_LABELS.includes(l)) {
      rep.error(at(path, 'failoverPriority'), `'failover_priority' for zone aware lb must not use topology label '${l}'; region- and zone-level routing are handled automatically`);
    }
  }
  if ((failover.length || priority.length) && !has(outlier)) rep.warn(path, 'outlier detection policy must be provided for failover');
  failover.forEach((f, i) => {
    const fp = at(at(path, 'failover'), i);
    const from = isObj(f) ? str(f.from) : '';
    const to = isObj(f) ? str(f.to) : '';
    if (from === to) rep.error(fp, 'zone aware lb failover settings must specify different regions');
    if (from.includes('/') || to.includes('/')) rep.error(fp, 'zone aware lb failover only specifies region; zone and subzone failover are handled automatically');
    if (from.includes('*') || to.includes('*')) rep.error(fp, "zone aware lb failover region should not contain '*' wildcard");
  });
}

/** Localities `region[/zone[/subzone]]` (a trailing `*` allowed) must not overlap. */
function validateLocalities(localities: string[]): string | undefined {
  const seen: Obj = {};
  for (const loc of localities) {
    const stars = (loc.match(/\*/g) ?? []).length;
    if (stars > 0 && (stars > 1 || !loc.endsWith('*'))) return `locality ${loc} wildcard '*' number can not exceed 1 and must be in the end`;
    if (has(seen['*'])) return `locality ${loc} overlap with previous specified ones`;
    const items = loc.split('/').slice(0, 3);
    if (loc.split('/').length > 3) items[2] = loc.split('/').slice(2).join('/');
    if (items.some((x) => x === '')) return `locality ${loc} must not contain empty region/zone/subzone info`;
    const [region, zone, sub] = items;
    const r = seen[region];
    if (items.length === 1) {
      if (has(r)) return `locality ${loc} overlap with previous specified ones`;
      seen[region] = { '*': { '*': true } };
    } else if (items.length === 2) {
      if (isObj(r)) {
        if (has(r['*']) || has(r[zone])) return `locality ${loc} overlap with previous specified ones`;
        r[zone] = { '*': true };
      } else seen[region] = { [zone]: { '*': true } };
    } else if (isObj(r)) {
      if (has(r['*'])) return `locality ${loc} overlap with previous specified ones`;
      const z = r[zone];
      if (isObj(z)) {
        if (z['*'] === true || z[sub] === true) return `locality ${loc} overlap with previous specified ones`;
        z[sub] = true;
      } else r[zone] = { [sub]: true };
    } else seen[region] = { [zone]: { [sub]: true } };
  }
  return undefined;
}

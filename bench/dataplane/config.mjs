// What the data-plane benchmark measures: protocols, topologies and the load matrix of each profile.
// One table drives everything (bootstraps, probes, runs, report), so adding a topology or a cell is one line.

/** Request/response payload, as in Istio's published benchmark (1 kB). */
export const PAYLOAD_BYTES = 1024;

/**
 * Protocols. `server` names the fortio server port that answers it; `h2Upstream` makes the proxies
 * speak HTTP/2 to their upstream (h2c, gRPC); `l4` uses tcp_proxy instead of the HTTP connection manager.
 */
export const PROTOCOLS = [
  { id: 'http1', label: 'HTTP/1.1', server: 'http', fortio: [], target: (port, host = '127.0.0.1') => `http://${host}:${port}/echo` },
  { id: 'h2c', label: 'HTTP/2 (h2c)', server: 'http', h2Upstream: true, fortio: ['-h2'], target: (port, host = '127.0.0.1') => `http://${host}:${port}/echo` },
  { id: 'grpc', label: 'gRPC (fortio ping)', server: 'grpc', h2Upstream: true, fortio: ['-grpc', '-ping'], target: (port, host = '127.0.0.1') => `${host}:${port}` },
  { id: 'tcp', label: 'TCP (fortio echo)', server: 'tcp', l4: true, fortio: [], target: (port, host = '127.0.0.1') => `tcp://${host}:${port}` },
];

/**
 * Topologies. `hops` proxies are chained client → proxy 1 → ... → proxy N → server; `impl` says which
 * proxy runs them. `direct` is the floor every other row is compared against.
 */
export const TOPOLOGIES = [
  { id: 'direct', label: 'direct (client → server)', impl: null, hops: 0 },
  { id: 'envoy-1', label: 'Envoy, one hop', impl: 'envoy', hops: 1 },
  { id: 'envoy-2', label: 'Envoy → Envoy (both sidecars)', impl: 'envoy', hops: 2 },
  { id: 'spar-1', label: 'spar proxy, one hop', impl: 'spar', hops: 1 },
  { id: 'spar-2', label: 'spar proxy → spar proxy (both sidecars)', impl: 'spar', hops: 2 },
  // Resilience filters configured but idle (bootstrap.mjs IDLE_*): compare with envoy-1 / spar-1. Not in the default set.
  { id: 'envoy-1r', label: 'Envoy, one hop, resilience filters idle', impl: 'envoy', hops: 1, resilience: true, optional: true },
  { id: 'spar-1r', label: 'spar proxy, one hop, resilience filters idle', impl: 'spar', hops: 1, resilience: true, optional: true },
];

/** rate 0 means "as fast as the topology goes" (fortio -qps 0). */
const cells = (rates, conns) => rates.flatMap((rate) => conns.map((c) => ({ rate, conns: c })));

/**
 * Profiles. `quick` is `npm run bench` (under 5 minutes with the CLI benchmark); `full` is the whole
 * matrix (rates 100 / 1,000 / max × 1 / 16 / 64 connections); `smoke` keeps the scripts working in CI.
 * `configFrom`: `pilot` (every proxy configured by `spar pilot` over ADS from Istio YAML, pilot.mjs) or
 * `static` (static bootstraps, bootstrap.mjs); `--config-from` overrides it.
 */
export const PROFILES = {
  smoke: { protocols: ['http1', 'tcp'], cells: cells([1000], [1]), durationSec: 1, repeats: 1, warmupSec: 0, configFrom: 'pilot' },
  quick: { protocols: ['http1', 'grpc', 'tcp'], cells: cells([1000, 0], [16]), durationSec: 2, repeats: 2, warmupSec: 0.5, configFrom: 'pilot' },
  full: { protocols: ['http1', 'h2c', 'grpc', 'tcp'], cells: cells([100, 1000, 0], [1, 16, 64]), durationSec: 3, repeats: 3, warmupSec: 1, configFrom: 'pilot' },
};

/** The cell the headline table and chart use: Istio's reference point (1,000 rps, 16 connections). */
export const HEADLINE = { rate: 1000, conns: 16 };

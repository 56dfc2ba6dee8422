/**
 * Istio's traffic-management tasks on a `spar up` mesh with `spar proxy` as every sidecar and the
 * ingress gateway (see tasks.ts). Runs alone: mesh.ts takes /run/lock/spar-e2e.lock so that this
 * file and traffic-envoy.test.ts never run their meshes at the same time.
 */
import { trafficSuite } from './tasks.js';

trafficSuite({
  proxy: 'spar',
  tasks: ['routing', 'fault', 'shifting', 'tcp-shifting', 'timeouts', 'circuit-breaking', 'mirroring', 'ingress', 'egress'],
  todo: {
    'cb overflow': 'spar proxy: cluster circuit_breakers (max_connections 1, max_pending_requests 1) never overflow — fortio -c 3 gets 30/30 200, no 503 (later resilience issue)',
    egress: 'Sidecar outboundTrafficPolicy REGISTRY_ONLY: an unknown host (no ServiceEntry) on the host server\'s port still passes through (200, not 502) — not yet diagnosed between src/xds/gen (lds-outbound/rds block_all) and spar proxy',
  },
});

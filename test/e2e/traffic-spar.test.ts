/**
 * Istio's traffic-management tasks on a `spar up` mesh with `spar proxy` as every sidecar and the
 * ingress gateway (see tasks.ts). Runs alone: mesh.ts takes /run/lock/spar-e2e.lock so that this
 * file and traffic-envoy.test.ts never run their meshes at the same time.
 */
import { trafficSuite } from './tasks.js';

trafficSuite({
  proxy: 'spar',
  tasks: ['routing', 'fault', 'shifting', 'tcp-shifting', 'timeouts', 'circuit-breaking', 'mirroring', 'ingress', 'egress'],
});

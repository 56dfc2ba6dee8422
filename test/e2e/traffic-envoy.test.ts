/**
 * The same tasks (tasks.ts) with real Envoy as every sidecar and the ingress gateway
 * (`spar up --proxy envoy`): the pilot's config must mean the same thing to Envoy.
 * Shares /run/lock/spar-e2e.lock with traffic-spar.test.ts (one e2e mesh at a time).
 */
import { trafficSuite } from './tasks.js';

trafficSuite({
  proxy: 'envoy',
  tasks: ['routing', 'fault', 'shifting', 'tcp-shifting', 'timeouts', 'circuit-breaking', 'mirroring', 'ingress', 'egress'],
});

/**
 * CDS clusters and EDS assignments are cached per push context and shared by every proxy that
 * would get the same one (cds.ts, eds.ts). Sharing must never hand one proxy another's view: for
 * proxies that differ in DestinationRule (a workloadSelector picks productpage), locality and
 * type, generating all of them from one push context, interleaved, equals generating each from a
 * fresh push context of its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TypeUrl } from '../../src/xds/resource-types.js';
import type { Proxy } from '../../src/model/proxy.js';
import type { PushContext } from '../../src/model/push-context.js';
import { BOOKINFO, gen, ingressGateway, pushFor, sidecarFor } from './fixtures/mesh.js';
import { MORE_POLICY } from './fixtures/features.js';

const GATEWAY = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'ingressgateway.yaml');
const GEO = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: geo, namespace: default}
spec:
  hosts: [geo.example.com]
  ports: [{number: 80, name: http}]
  resolution: STATIC
  endpoints:
  - {address: 198.51.100.1, locality: us-east/us-east-1/a}
  - {address: 198.51.100.4, locality: eu-west/eu-west-1/a}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: geo, namespace: default}
spec:
  host: geo.example.com
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 5}
    loadBalancer: {simple: ROUND_ROBIN, localityLbSetting: {enabled: true}}`;

const TYPES = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment] as const;

test('per-push cluster and endpoint caches: each proxy gets what a fresh push context gives it', () => {
  const build = () => pushFor([BOOKINFO, GATEWAY], [MORE_POLICY, GEO]);
  const proxies: [string, (push: PushContext) => Proxy][] = [
    ['productpage', (push) => sidecarFor(push, 'productpage-v1')],
    ['reviews', (push) => sidecarFor(push, 'reviews-v1')],
    ['reviews in eu-west', (push) => ({ ...sidecarFor(push, 'reviews-v2'), locality: { region: 'eu-west', zone: 'eu-west-1', subZone: 'a' } })],
    ['reviews in us-east', (push) => ({ ...sidecarFor(push, 'reviews-v3'), locality: { region: 'us-east', zone: 'us-east-1', subZone: 'a' } })],
    ['gateway', () => ingressGateway()],
  ];
  const shared = build();
  // Twice round, in both orders, so every proxy meets entries another proxy put in the cache.
  const order = [...proxies, ...[...proxies].reverse()];
  for (const [label, make] of order) {
    const fresh = build();
    for (const t of TYPES) {
      const got = gen(make(shared), shared, t);
      const want = gen(make(fresh), fresh, t);
      assert.deepEqual(got, want, `${label} ${t.split('.').pop()}`);
    }
  }
  // And the sharing happens: two sidecars with the same view get the very same cluster objects.
  const a = gen(sidecarFor(shared, 'reviews-v1'), shared, TypeUrl.Cluster).find((c) => c.name === 'outbound|9080||ratings.default.svc.cluster.local');
  const b = gen(sidecarFor(shared, 'ratings-v1'), shared, TypeUrl.Cluster).find((c) => c.name === 'outbound|9080||ratings.default.svc.cluster.local');
  assert.ok(a && a === b);
});

/**
 * Real Envoy (1.40, `envoy` on PATH) accepts what the generators produce: for Bookinfo with each
 * file of samples/bookinfo/networking, httpbin, tcp-echo, helloworld and the gateway samples, the
 * full resource set of a sidecar (and of the ingress gateway where a Gateway applies) goes into a
 * static bootstrap checked with `envoy --mode validate`. Validations run six at a time in `before` (each mostly sleeps);
 * each scenario is then its own test.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { MeshConfig, Proxy, PushContext } from '../../src/xds/gen/index.js';
import { staticBootstrap, validateAll, type EnvoyVerdict } from './fixtures/envoy-static.js';
import { BOOKINFO, genAll, ingressGateway, pushFor, sample, sidecarFor } from './fixtures/mesh.js';
import { CAPTURE_NONE, JWT_CLAIM_ROUTING, LOCALITY_FAILOVER, MESH_L4_ROUTES, MORE_POLICY, PEER_AUTHENTICATION, RICH_DESTINATION_RULE, RICH_VIRTUAL_SERVICE, SERVICE_ENTRIES, SIDECAR_SCOPE, TLS_GATEWAYS } from './fixtures/features.js';
import { fileURLToPath } from 'node:url';
import { analyzeDir, validationDir } from '../helpers/shared.js';
import { buildPushContext, defaultMeshConfig, proxyFromNode } from '../../src/xds/gen/index.js';
import { parsePaths } from '../../src/config/parse.js';
import { withSyntheticAddresses } from '../../src/registry/kube/synthetic.js';
import { dirname } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const GATEWAY = join(here, 'fixtures', 'ingressgateway.yaml');
const CREDENTIAL = join(here, 'fixtures', 'credential.yaml');
const bookinfoNet = sample('bookinfo', 'networking');

interface Scenario {
  label: string;
  files: string[];
  yaml?: string[];
  mesh?: Partial<MeshConfig>;
  /** Locality of the validated sidecars (node.locality). */
  locality?: { region: string; zone: string; subZone: string };
  /** Deployments whose sidecars are validated. */
  sidecars: string[];
  gateway?: boolean;
}

/** Extra workloads some Bookinfo networking files route to. */
const EXTRA: Record<string, string[]> = {
  'virtual-service-ratings-db.yaml': [sample('bookinfo', 'platform', 'kube', 'bookinfo-ratings-v2.yaml'), sample('bookinfo', 'platform', 'kube', 'bookinfo-db.yaml')],
  'virtual-service-ratings-mysql.yaml': [sample('bookinfo', 'platform', 'kube', 'bookinfo-ratings-v2-mysql.yaml'), sample('bookinfo', 'platform', 'kube', 'bookinfo-mysql.yaml')],
  'virtual-service-ratings-mysql-vm.yaml': [sample('bookinfo', 'platform', 'kube', 'bookinfo-ratings-v2-mysql-vm.yaml')],
};

const scenarios: Scenario[] = [
  { label: 'bookinfo', files: [BOOKINFO], sidecars: ['productpage-v1', 'reviews-v2'] },
  ...readdirSync(bookinfoNet).filter((f) => f.endsWith('.yaml')).sort().map((f) => ({
    label: `bookinfo + ${f}`,
    files: [BOOKINFO, join(bookinfoNet, 'destination-rule-all.yaml'), ...(EXTRA[f] ?? []), join(bookinfoNet, f), GATEWAY, CREDENTIAL],
    sidecars: ['productpage-v1'],
    gateway: f.includes('gateway'),
  })),
  { label: 'httpbin + gateway', files: [sample('httpbin', 'httpbin.yaml'), sample('httpbin', 'httpbin-gateway.yaml'), sample('httpbin', 'sample-client', 'fortio-deploy.yaml'), GATEWAY], sidecars: ['httpbin', 'fortio-deploy'], gateway: true },
  { label: 'tcp-echo all-v1', files: [sample('tcp-echo', 'tcp-echo-services.yaml'), sample('tcp-echo', 'tcp-echo-all-v1.yaml'), sample('curl', 'curl.yaml'), GATEWAY], sidecars: ['curl', 'tcp-echo-v1'], gateway: true },
  { label: 'tcp-echo 20-v2', files: [sample('tcp-echo', 'tcp-echo-services.yaml'), sample('tcp-echo', 'tcp-echo-all-v1.yaml'), sample('tcp-echo', 'tcp-echo-20-v2.yaml'), sample('curl', 'curl.yaml'), GATEWAY], sidecars: ['curl'], gateway: true },
  { label: 'helloworld + gateway', files: [sample('helloworld', 'helloworld.yaml'), sample('helloworld', 'helloworld-gateway.yaml'), sample('curl', 'curl.yaml'), GATEWAY], sidecars: ['curl', 'helloworld-v1'], gateway: true },
  {
    label: 'all gateway samples on one ingress gateway (ports 80 and 8080 both target 8080)',
    files: [BOOKINFO, join(bookinfoNet, 'bookinfo-gateway.yaml'), sample('httpbin', 'httpbin.yaml'), sample('httpbin', 'httpbin-gateway.yaml'), sample('tcp-echo', 'tcp-echo.yaml'), sample('tcp-echo', 'tcp-echo-all-v1.yaml'), sample('helloworld', 'helloworld.yaml'), sample('helloworld', 'helloworld-gateway.yaml'), join(bookinfoNet, 'certmanager-gateway.yaml'), GATEWAY],
    sidecars: ['productpage-v1'],
    gateway: true,
  },
  { label: 'websockets + gateway', files: [sample('websockets', 'app.yaml'), sample('websockets', 'route.yaml'), GATEWAY], sidecars: ['tornado'], gateway: true },
  { label: 'external ServiceEntries', files: [sample('external', 'aptget.yaml'), sample('external', 'github.yaml'), sample('external', 'pypi.yaml'), sample('curl', 'curl.yaml')], sidecars: ['curl'] },
  { label: 'grpc-echo', files: [sample('grpc-echo', 'grpc-echo.yaml'), sample('curl', 'curl.yaml')], sidecars: ['curl'] },
  { label: 'rich VirtualService + DestinationRule', files: [BOOKINFO, join(bookinfoNet, 'destination-rule-all.yaml')], yaml: [RICH_VIRTUAL_SERVICE, RICH_DESTINATION_RULE, JWT_CLAIM_ROUTING], sidecars: ['productpage-v1'] },
  { label: 'gateway TLS modes + SDS', files: [BOOKINFO, join(bookinfoNet, 'destination-rule-all.yaml'), GATEWAY, CREDENTIAL], yaml: [TLS_GATEWAYS], sidecars: [], gateway: true },
  { label: 'Sidecar scope + REGISTRY_ONLY', files: [BOOKINFO, GATEWAY], yaml: [SIDECAR_SCOPE], sidecars: ['productpage-v1'] },
  { label: 'ServiceEntry resolutions + WorkloadEntry', files: [BOOKINFO], yaml: [SERVICE_ENTRIES], sidecars: ['productpage-v1'] },
  { label: 'Sidecar captureMode NONE', files: [BOOKINFO], yaml: [CAPTURE_NONE], sidecars: ['ratings-v1'] },
  { label: 'retry budget, PROXY protocol, inbound pool, ISTIO_MUTUAL gateway', files: [BOOKINFO, GATEWAY], yaml: [MORE_POLICY], sidecars: ['productpage-v1', 'details-v1'], gateway: true },
  { label: 'Bookinfo, auto mTLS off, REGISTRY_ONLY, access log', files: [BOOKINFO, join(bookinfoNet, 'virtual-service-reviews-50-v3.yaml'), join(bookinfoNet, 'destination-rule-all.yaml')], mesh: { enableAutoMtls: false, outboundTrafficPolicy: 'REGISTRY_ONLY', accessLogFile: '/dev/stdout' }, sidecars: ['productpage-v1', 'reviews-v3'] },
  { label: 'PeerAuthentication STRICT / port DISABLE / namespace DISABLE', files: [BOOKINFO], yaml: [PEER_AUTHENTICATION], sidecars: ['productpage-v1', 'reviews-v1', 'ratings-v1'] },
  { label: 'mesh TCP/TLS routes', files: [sample('tcp-echo', 'tcp-echo.yaml'), sample('curl', 'curl.yaml')], yaml: [MESH_L4_ROUTES], sidecars: ['curl'] },
  { label: 'locality failover priorities', files: [BOOKINFO], yaml: [LOCALITY_FAILOVER], sidecars: ['productpage-v1'], locality: { region: 'us-east', zone: 'us-east-1', subZone: 'a' } },
];

// Istio's own validation corpus: every valid DestinationRule/ServiceEntry/WorkloadEntry next to Bookinfo.
for (const f of ['destinationrule-valid.yaml', 'serviceentry-valid.yaml', 'workloadentry-valid.yaml']) {
  scenarios.push({ label: `Istio validation corpus: ${f}`, files: [BOOKINFO, GATEWAY, join(validationDir, f)], sidecars: ['productpage-v1', 'reviews-v1'] });
}

const items: { label: string; bootstrap: ReturnType<typeof staticBootstrap> }[] = [];
const expected = new Map<string, string[]>();
const setupErrors = new Map<string, unknown>();

function addProxy(scenario: string, push: PushContext, proxy: Proxy, what: string): void {
  const label = `${scenario} :: ${what}`;
  const set = genAll(proxy, push);
  // An empty config would pass validation trivially.
  assert.ok(set.listeners.length > 0 && set.clusters.length > 0, `${label}: nothing generated`);
  items.push({ label, bootstrap: staticBootstrap(proxy.id, set) });
  expected.set(scenario, [...(expected.get(scenario) ?? []), label]);
}

const results = new Map<string, EnvoyVerdict>();

describe('real Envoy accepts generated config (envoy --mode validate)', () => {
  before(async () => {
    for (const s of scenarios) {
      try {
        const push = pushFor(s.files, s.yaml, s.mesh);
        for (const w of s.sidecars) {
          const ns = push.registry.workloads.find((x) => x.workloadName === w)?.namespace ?? 'default';
          const proxy = sidecarFor(push, w, ns);
          if (s.locality) proxy.locality = s.locality;
          addProxy(s.label, push, proxy, `sidecar ${w}`);
        }
        if (s.gateway) addProxy(s.label, push, ingressGateway(), 'ingress gateway');
      } catch (e) {
        setupErrors.set(s.label, e);
      }
    }
    // Envoy's validate mode mostly waits (little CPU), so several run side by side.
    for (const r of await validateAll(items, 6)) results.set(r.label, r.verdict);
  });

  for (const s of scenarios) {
    test(s.label, () => {
      if (setupErrors.has(s.label)) throw setupErrors.get(s.label);
      const labels = expected.get(s.label) ?? [];
      assert.ok(labels.length > 0, 'no proxy validated');
      for (const l of labels) {
        const v = results.get(l);
        assert.ok(v, `${l}: not validated`);
        assert.ok(v.ok, `${l}: Envoy rejected the config:\n${v.output}`);
      }
    });
  }
});

/**
 * Istio's analyzer inputs (testdata/analyze): a hundred small meshes, many deliberately wrong.
 * Generation must not throw on any of them, and what it produces for their pods and an ingress
 * gateway must still be config Envoy accepts.
 */
describe('Istio analyzer inputs: generation never fails and Envoy accepts the output', () => {
  const corpus: { label: string; bootstrap: ReturnType<typeof staticBootstrap> }[] = [];
  const thrown: string[] = [];
  let verdicts: { label: string; verdict: EnvoyVerdict }[] = [];
  before(async () => {
    for (const f of readdirSync(analyzeDir).filter((x) => x.endsWith('.yaml')).sort()) {
      try {
        // Some inputs are MeshConfig files or partly unreadable on purpose: generate from what reads.
        const push = buildPushContext(withSyntheticAddresses(parsePaths([join(analyzeDir, f)]).resources), defaultMeshConfig());
        const pods = push.registry.workloads.filter((w) => w.kind === 'Pod').slice(0, 1);
        const proxies = pods.map((w) => proxyFromNode({ id: `sidecar~${w.address}~${w.name}.${w.namespace}~${w.namespace}.svc.cluster.local`, metadata: { LABELS: w.labels, NAMESPACE: w.namespace } }));
        proxies.push(ingressGateway({ istio: 'ingressgateway' }));
        for (const proxy of proxies) {
          const set = genAll(proxy, push);
          if (set.listeners.length) corpus.push({ label: `${f} ${proxy.id}`, bootstrap: staticBootstrap(proxy.id, set) });
        }
      } catch (e) {
        thrown.push(`${f}: ${(e as Error).stack}`);
      }
    }
    verdicts = await validateAll(corpus, 6);
  });
  test('no generator throws', () => assert.deepEqual(thrown, []));
  test('Envoy accepts every proxy\'s config', () => {
    assert.ok(corpus.length >= 15, `only ${corpus.length} proxies had config`);
    const rejected = verdicts.filter((v) => !v.verdict.ok).map((v) => `${v.label}: ${v.verdict.output}`);
    assert.deepEqual(rejected, []);
  });
});

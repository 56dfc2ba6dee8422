/**
 * Generated Envoy resources compared with hand-reviewed golden JSON (test/pilot/golden), one per
 * generator and per Istio feature worth pinning. Each golden was read against Istio's output
 * shapes (pilot/pkg/networking/core) and Envoy's API docs; see the review notes in
 * golden/README.md.
 */
import { test } from 'node:test';
import { join } from 'node:path';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { assertGolden } from './fixtures/golden.js';
import { BOOKINFO, byName, gen, ingressGateway, pushFor, sample, sidecarFor } from './fixtures/mesh.js';
import { RICH_DESTINATION_RULE, RICH_VIRTUAL_SERVICE, TLS_GATEWAYS } from './fixtures/features.js';
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const net = (f: string) => sample('bookinfo', 'networking', f);
const GATEWAY = join(here, 'fixtures', 'ingressgateway.yaml');
const REVIEWS = 'reviews.default.svc.cluster.local';

const bookinfo = pushFor([BOOKINFO, net('destination-rule-all.yaml'), net('virtual-service-reviews-jason-v2-v3.yaml')]);
const productpage = sidecarFor(bookinfo, 'productpage-v1');
const reviews = sidecarFor(bookinfo, 'reviews-v1');

test('CDS: outbound subset cluster with auto mTLS (reviews v1)', () => {
  assertGolden('cds-outbound-reviews-v1', byName(gen(productpage, bookinfo, TypeUrl.Cluster), `outbound|9080|v1|${REVIEWS}`));
});

test('CDS: inbound, passthrough and blackhole clusters', () => {
  const cds = gen(reviews, bookinfo, TypeUrl.Cluster);
  assertGolden('cds-inbound-and-special', ['inbound|9080||', 'PassthroughCluster', 'BlackHoleCluster', 'InboundPassthroughCluster'].map((n) => byName(cds, n)));
});

test('EDS: reviews, all versions and the v2 subset', () => {
  assertGolden('eds-reviews', gen(productpage, bookinfo, TypeUrl.ClusterLoadAssignment, [`outbound|9080||${REVIEWS}`, `outbound|9080|v2|${REVIEWS}`]));
});

test('RDS: route table 9080 with the jason header match', () => {
  const rc = byName(gen(productpage, bookinfo, TypeUrl.RouteConfiguration, ['9080']), '9080');
  assertGolden('rds-9080-reviews-jason', rc);
});

test('LDS: 0.0.0.0_9080, virtualOutbound and virtualInbound', () => {
  const lds = gen(reviews, bookinfo, TypeUrl.Listener);
  assertGolden('lds-sidecar-reviews', lds);
});

test('RDS: rich VirtualService (redirect, direct response, regex, rewrite, retries, headers, CORS, fault, mirror, weights)', () => {
  const push = pushFor([BOOKINFO, net('destination-rule-all.yaml')], [RICH_VIRTUAL_SERVICE]);
  const rc = byName(gen(sidecarFor(push, 'productpage-v1'), push, TypeUrl.RouteConfiguration, ['9080']), '9080');
  const vhosts = rc.virtual_hosts as { name: string }[];
  assertGolden('rds-rich-virtual-service', vhosts.find((v) => v.name === 'ratings.default.svc.cluster.local:9080'));
});

test('CDS: rich DestinationRule (pool, outlier, consistent hash, port-level warmup, subset TLS SIMPLE)', () => {
  const push = pushFor([BOOKINFO], [RICH_DESTINATION_RULE]);
  const cds = gen(sidecarFor(push, 'productpage-v1'), push, TypeUrl.Cluster);
  assertGolden('cds-rich-destination-rule', ['', 'v1', 'v2'].map((s) => byName(cds, `outbound|9080|${s}|ratings.default.svc.cluster.local`)));
});

test('gateway: bookinfo-gateway listener and route table', () => {
  const push = pushFor([BOOKINFO, net('bookinfo-gateway.yaml'), GATEWAY]);
  const gw = ingressGateway();
  assertGolden('gateway-bookinfo', { listeners: gen(gw, push, TypeUrl.Listener), routes: gen(gw, push, TypeUrl.RouteConfiguration) });
});

test('gateway: tcp-echo 80/20 on 31400', () => {
  const push = pushFor([sample('tcp-echo', 'tcp-echo-services.yaml'), sample('tcp-echo', 'tcp-echo-all-v1.yaml'), sample('tcp-echo', 'tcp-echo-20-v2.yaml'), GATEWAY]);
  assertGolden('gateway-tcp-echo-20-v2', gen(ingressGateway(), push, TypeUrl.Listener));
});

test('ServiceEntry DNS: www.googleapis.com cluster and the SNI listener on 443', () => {
  const push = pushFor([BOOKINFO, net('egress-rule-google-apis.yaml')]);
  const pp = sidecarFor(push, 'productpage-v1');
  assertGolden('serviceentry-googleapis', {
    cluster: byName(gen(pp, push, TypeUrl.Cluster), 'outbound|443||www.googleapis.com'),
    listener: byName(gen(pp, push, TypeUrl.Listener), '0.0.0.0_443'),
  });
});

test('gateway: SIMPLE TLS server chain with its SDS credential, and the https route table name', () => {
  const push = pushFor([BOOKINFO, GATEWAY, join(here, 'fixtures', 'credential.yaml')], [TLS_GATEWAYS]);
  const gw = ingressGateway();
  const https = byName(gen(gw, push, TypeUrl.Listener), '0.0.0.0_8443');
  assertGolden('gateway-https-simple-chain', { listener_filters: https.listener_filters, chain: (https.filter_chains as unknown[])[0] });
});

/**
 * Istio features, one table row each: config in, the Envoy fields that must come out. Every
 * resource generated here also passes Envoy's schema (fixtures/mesh.ts `gen`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TypeUrl } from '../../src/xds/resource-types.js';
import type { EnvoyJson } from '../../src/xds/codec.js';
import { BOOKINFO, byName, checked, gen, ingressGateway, pushFor, sample, sidecarFor } from './fixtures/mesh.js';
import { CAPTURE_NONE, JWT_CLAIM_ROUTING, MESH_L4_ROUTES, MORE_POLICY, PEER_AUTHENTICATION, RICH_DESTINATION_RULE, SERVICE_ENTRIES, SIDECAR_SCOPE, TLS_GATEWAYS } from './fixtures/features.js';

const here = dirname(fileURLToPath(import.meta.url));
const GATEWAY = join(here, 'fixtures', 'ingressgateway.yaml');
const CREDENTIAL = join(here, 'fixtures', 'credential.yaml');
const net = (f: string) => sample('bookinfo', 'networking', f);
const names = (list: EnvoyJson[]) => list.map((r) => String(r.name ?? r.cluster_name));
const json = (v: unknown) => JSON.stringify(v);

test('Sidecar egress scoping, exportTo "." and REGISTRY_ONLY', () => {
  const push = pushFor([BOOKINFO, GATEWAY], [SIDECAR_SCOPE]);
  const pp = sidecarFor(push, 'productpage-v1');
  const cds = names(gen(pp, push, TypeUrl.Cluster));
  assert.ok(cds.includes('outbound|9080||reviews.default.svc.cluster.local'));
  assert.ok(cds.includes('outbound|80||istio-ingressgateway.istio-system.svc.cluster.local'), 'istio-system/* is in scope');
  assert.ok(!cds.some((n) => n.includes('other.svc')), 'namespace other is out of scope');
  const rc = byName(gen(pp, push, TypeUrl.RouteConfiguration, ['9080']), '9080');
  const last = (rc.virtual_hosts as EnvoyJson[]).at(-1)!;
  assert.equal(last.name, 'block_all');
  assert.equal(json((last.routes as EnvoyJson[])[0].direct_response), json({ status: 502 }));
  const vo = byName(gen(pp, push, TypeUrl.Listener), 'virtualOutbound');
  assert.match(json(vo.filter_chains), /"virtualOutbound-catchall-tcp"/);
  assert.match(json((vo.filter_chains as EnvoyJson[])[1]), /BlackHoleCluster/);
  // Without the Sidecar, a proxy in "other" sees its private service; one in default does not.
  const open = pushFor([BOOKINFO], [SIDECAR_SCOPE.split('---').slice(0, 2).join('---')]);
  assert.ok(open.servicesFor(sidecarFor(open, 'productpage-v1')).every((s) => s.name !== 'private'));
  assert.ok(open.servicesFor(sidecarFor(open, 'productpage-v1')).some((s) => s.name === 'other'));
});

test('DestinationRule precedence: proxy namespace, then service namespace, then root; exact before wildcard', () => {
  const dr = (ns: string, name: string, host: string, lb: string) => `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${name}, namespace: ${ns}}
spec: {host: "${host}", trafficPolicy: {loadBalancer: {simple: ${lb}}}}`;
  const push = pushFor([BOOKINFO], [dr('istio-system', 'root', '*.svc.cluster.local', 'RANDOM'), dr('default', 'wild', '*.default.svc.cluster.local', 'ROUND_ROBIN'), dr('default', 'exact', 'ratings', 'LEAST_REQUEST')]);
  const cds = gen(sidecarFor(push, 'productpage-v1'), push, TypeUrl.Cluster);
  assert.equal(byName(cds, 'outbound|9080||ratings.default.svc.cluster.local').lb_policy, 'LEAST_REQUEST');
  assert.equal(byName(cds, 'outbound|9080||reviews.default.svc.cluster.local').lb_policy, 'ROUND_ROBIN');
  const root = pushFor([BOOKINFO], [dr('istio-system', 'root', '*.svc.cluster.local', 'RANDOM')]);
  assert.equal(byName(gen(sidecarFor(root, 'productpage-v1'), root, TypeUrl.Cluster), 'outbound|9080||reviews.default.svc.cluster.local').lb_policy, 'RANDOM');
});

test('DestinationRule tls ISTIO_MUTUAL and DISABLE; consistent hash reaches the route', () => {
  const push = pushFor([BOOKINFO, net('destination-rule-all-mtls.yaml')], [RICH_DESTINATION_RULE.replace('name: ratings-rich', 'name: ratings'), `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings, namespace: default}
spec:
  hosts: [ratings]
  http: [{route: [{destination: {host: ratings, subset: v1}}]}]`]);
  const pp = sidecarFor(push, 'productpage-v1');
  const cds = gen(pp, push, TypeUrl.Cluster);
  const reviews = byName(cds, 'outbound|9080|v2|reviews.default.svc.cluster.local');
  assert.match(json(reviews.transport_socket), /outbound_\.9080_\.v2_\.reviews\.default\.svc\.cluster\.local/);
  assert.equal(reviews.transport_socket_matches, undefined);
  const rc = byName(gen(pp, push, TypeUrl.RouteConfiguration, ['9080']), '9080');
  const ratings = (rc.virtual_hosts as EnvoyJson[]).find((v) => v.name === 'ratings.default.svc.cluster.local:9080')!;
  const route = ((ratings.routes as EnvoyJson[])[0].route) as EnvoyJson;
  // Subset v1 hashes on a header (the top-level cookie hash is replaced by port-level ROUND_ROBIN).
  assert.equal(json(route.hash_policy), json([{ header: { header_name: 'x-user' } }]));
  assert.equal((route.retry_policy as EnvoyJson).retry_host_predicate, undefined, 'no previous_hosts with consistent hashing');
  const disabled = pushFor([BOOKINFO], [`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: details, namespace: default}
spec: {host: details, trafficPolicy: {tls: {mode: DISABLE}}}`]);
  const d = byName(gen(sidecarFor(disabled, 'productpage-v1'), disabled, TypeUrl.Cluster), 'outbound|9080||details.default.svc.cluster.local');
  assert.equal(d.transport_socket, undefined);
  assert.equal(d.transport_socket_matches, undefined);
});

test('delegate VirtualService: the root match combines with the delegate routes', () => {
  const push = pushFor([BOOKINFO, net('destination-rule-all.yaml')], [`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: root, namespace: default}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /reviews}}]
    delegate: {name: reviews-delegate, namespace: default}
  - route: [{destination: {host: reviews, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-delegate, namespace: default}
spec:
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v3}}]`]);
  const rc = byName(gen(sidecarFor(push, 'productpage-v1'), push, TypeUrl.RouteConfiguration, ['9080']), '9080');
  const vh = (rc.virtual_hosts as EnvoyJson[]).find((v) => v.name === 'reviews.default.svc.cluster.local:9080')!;
  const rs = vh.routes as EnvoyJson[];
  assert.deepEqual(rs.map((r) => [(r.match as EnvoyJson).prefix, ((r.route as EnvoyJson).cluster as string).split('|')[2]]), [['/reviews', 'v2'], ['/reviews', 'v3'], ['/', 'v1']]);
  assert.match(json(rs[0].match), /end-user/);
});

test('VirtualService sourceLabels and port pick routes per proxy', () => {
  const push = pushFor([BOOKINFO, net('destination-rule-all.yaml')], [`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings, namespace: default}
spec:
  hosts: [ratings]
  http:
  - match: [{sourceLabels: {app: reviews, version: v2}}]
    route: [{destination: {host: ratings, subset: v2}}]
  - match: [{port: 8080}]
    route: [{destination: {host: ratings, subset: v2-mysql}}]
  - route: [{destination: {host: ratings, subset: v1}}]`]);
  const clusterFor = (workload: string) => {
    const p = sidecarFor(push, workload);
    const rc = byName(gen(p, push, TypeUrl.RouteConfiguration, ['9080']), '9080');
    const vh = (rc.virtual_hosts as EnvoyJson[]).find((v) => v.name === 'ratings.default.svc.cluster.local:9080')!;
    return (vh.routes as EnvoyJson[]).map((r) => ((r.route as EnvoyJson).cluster as string).split('|')[2]);
  };
  // The sourceLabels route matches everything for reviews-v2, so (as in Istio) nothing follows it.
  assert.deepEqual(clusterFor('reviews-v2'), ['v2']);
  assert.deepEqual(clusterFor('reviews-v3'), ['v1']);
});

test('Gateway TLS modes: SIMPLE and MUTUAL by SNI with SDS credentials, PASSTHROUGH, AUTO_PASSTHROUGH, httpsRedirect', () => {
  const push = pushFor([BOOKINFO, net('destination-rule-all.yaml'), GATEWAY, CREDENTIAL], [TLS_GATEWAYS]);
  const gw = ingressGateway();
  const lds = gen(gw, push, TypeUrl.Listener);
  assert.deepEqual(names(lds), ['0.0.0.0_8080', '0.0.0.0_8443', '0.0.0.0_15443']);
  const https = byName(lds, '0.0.0.0_8443');
  const chains = https.filter_chains as EnvoyJson[];
  assert.deepEqual(chains.map((c) => json((c.filter_chain_match as EnvoyJson).server_names)), [json(['bookinfo.example.com']), json(['secure.example.com']), json(['ratings.example.com'])]);
  assert.match(json(chains[0].transport_socket), /kubernetes:\/\/bookinfo-credential"/);
  assert.match(json(chains[1].transport_socket), /kubernetes:\/\/bookinfo-credential-cacert/);
  assert.match(json(chains[1].transport_socket), /"require_client_certificate":true/);
  assert.match(json(chains[2].filters), /outbound\|9080\|\|ratings\.default\.svc\.cluster\.local/);
  assert.match(json(byName(lds, '0.0.0.0_15443').filter_chains), /envoy\.filters\.network\.sni_cluster/);
  const cds = names(gen(gw, push, TypeUrl.Cluster));
  assert.ok(cds.includes('outbound_.9080_.v1_.reviews.default.svc.cluster.local'), 'SNI-DNAT clusters for AUTO_PASSTHROUGH');
  const rds = gen(gw, push, TypeUrl.RouteConfiguration);
  assert.deepEqual(names(rds).sort(), ['http.8080', 'https.443.https-mutual.tls-gateway.istio-system', 'https.443.https.tls-gateway.istio-system']);
  const http = byName(rds, 'http.8080');
  assert.equal((http.virtual_hosts as EnvoyJson[])[0].require_tls, 'ALL');
  const sds = gen(gw, push, TypeUrl.Secret);
  assert.deepEqual(names(sds), ['kubernetes://bookinfo-credential', 'kubernetes://bookinfo-credential-cacert']);
  assert.ok((sds[0].tls_certificate as EnvoyJson).certificate_chain);
  assert.ok((sds[1].validation_context as EnvoyJson).trusted_ca);
});

test('ServiceEntry resolutions: STATIC → EDS with endpoint ports and locality, NONE → ORIGINAL_DST, DNS_ROUND_ROBIN → LOGICAL_DNS, workloadSelector → WorkloadEntry', () => {
  const push = pushFor([BOOKINFO], [SERVICE_ENTRIES]);
  const pp = sidecarFor(push, 'productpage-v1');
  const cds = gen(pp, push, TypeUrl.Cluster);
  assert.equal(byName(cds, 'outbound|8443||api.example.com').type, 'EDS');
  assert.equal(byName(cds, 'outbound|8443||api.example.com').transport_socket_matches, undefined, 'no auto mTLS to MESH_EXTERNAL');
  assert.equal(byName(cds, 'outbound|80||*.wild.example.com').type, 'ORIGINAL_DST');
  const rr = byName(cds, 'outbound|5432||db.example.com');
  assert.equal(rr.type, 'LOGICAL_DNS');
  assert.match(json(rr.load_assignment), /"address":"db\.example\.com","port_value":5432/);
  const eds = gen(pp, push, TypeUrl.ClusterLoadAssignment, ['outbound|8443||api.example.com', 'outbound|8080||legacy.default.svc.cluster.local']);
  const api = byName(eds, 'outbound|8443||api.example.com');
  assert.match(json(api.endpoints), /"address":"203\.0\.113\.11","port_value":9443/);
  assert.match(json(api.endpoints), /"region":"us-east1","zone":"us-east1-b"/);
  const legacy = byName(eds, 'outbound|8080||legacy.default.svc.cluster.local');
  assert.match(json(legacy.endpoints), /"address":"192\.0\.2\.50","port_value":18080/);
  assert.match(json(legacy.endpoints), /"tlsMode":"istio"/);
  const lds = names(gen(pp, push, TypeUrl.Listener));
  assert.ok(lds.includes('240.0.0.10_8443'), 'TCP/TLS service with a VIP gets <vip>_<port>');
  assert.ok(lds.includes('0.0.0.0_5432'));
});

test('Sidecar captureMode NONE: bound egress listener on 127.0.0.1, ingress on the pod IP to a STATIC inbound cluster', () => {
  const push = pushFor([BOOKINFO], [CAPTURE_NONE]);
  const ratings = sidecarFor(push, 'ratings-v1');
  const lds = gen(ratings, push, TypeUrl.Listener);
  const egress = byName(lds, '127.0.0.1_9080');
  assert.equal(egress.bind_to_port, undefined, 'binds');
  const ingress = lds.find((l) => String(l.name).endsWith('_9080') && String(l.name) !== '127.0.0.1_9080' && l.traffic_direction === 'INBOUND')!;
  assert.ok(ingress, 'ingress listener');
  assert.equal(String(ingress.name), `${ratings.ipAddresses[0]}_9080`);
  const inbound = byName(gen(ratings, push, TypeUrl.Cluster), 'inbound|9080||');
  assert.equal(inbound.type, 'STATIC');
  assert.match(json(inbound.load_assignment), /127\.0\.0\.1/);
  // The proxy without capture at all: no virtual listeners.
  const none = sidecarFor(push, 'details-v1', 'default', { INTERCEPTION_MODE: 'NONE' });
  const l2 = names(gen(none, push, TypeUrl.Listener));
  assert.ok(!l2.includes('virtualOutbound') && !l2.includes('virtualInbound'));
  assert.ok(l2.includes('127.0.0.1_9080'));
});

test('protocol selection: tcp, grpc, unnamed (sniffed) ports', () => {
  const push = pushFor([sample('tcp-echo', 'tcp-echo-services.yaml'), sample('grpc-echo', 'grpc-echo.yaml'), sample('curl', 'curl.yaml')], [`
apiVersion: v1
kind: Service
metadata: {name: sniffed, namespace: default}
spec:
  selector: {app: sniffed}
  ports: [{port: 7000}]`]);
  const curl = sidecarFor(push, 'curl');
  const lds = gen(curl, push, TypeUrl.Listener);
  const svc = push.services.find((s) => s.name === 'sniffed')!;
  const sniffed = byName(lds, `${svc.addresses[0]}_7000`);
  assert.match(json(sniffed.filter_chains), /"application_protocols":\["http\/1\.1","h2c"\]/);
  assert.match(json(sniffed.filter_chains), /"route_config_name":"sniffed\.default\.svc\.cluster\.local:7000"/);
  assert.match(json(sniffed.default_filter_chain), /outbound\|7000\|\|sniffed/);
  const rds = gen(curl, push, TypeUrl.RouteConfiguration, ['sniffed.default.svc.cluster.local:7000']);
  assert.equal((rds[0].virtual_hosts as EnvoyJson[]).length, 1, 'a sniffed table has no catch-all');
  const cds = gen(curl, push, TypeUrl.Cluster);
  assert.match(json(byName(cds, 'outbound|7000||sniffed.default.svc.cluster.local').typed_extension_protocol_options), /use_downstream_protocol_config/);
  const grpc = push.services.find((s) => s.name === 'echo')!;
  const grpcPort = grpc.ports.find((p) => p.protocol === 'GRPC')!;
  assert.match(json(byName(cds, `outbound|${grpcPort.port}||echo.${grpc.namespace}.svc.cluster.local`).typed_extension_protocol_options), /http2_protocol_options/);
});

test('locality load balancing: failover priorities by nearness, failover rules, distribute weights', () => {
  const se = (lb: string) => `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: geo, namespace: default}
spec:
  hosts: [geo.example.com]
  ports: [{number: 80, name: http}]
  resolution: STATIC
  endpoints:
  - {address: 198.51.100.1, locality: us-east/us-east-1/a}
  - {address: 198.51.100.2, locality: us-east/us-east-1/b}
  - {address: 198.51.100.3, locality: us-east/us-east-2/a}
  - {address: 198.51.100.4, locality: eu-west/eu-west-1/a}
  - {address: 198.51.100.5, locality: ap-south/ap-south-1/a}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: geo, namespace: default}
spec:
  host: geo.example.com
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 5}
    loadBalancer: {simple: ROUND_ROBIN, localityLbSetting: ${lb}}`;
  const eds = (lb: string) => {
    const push = pushFor([BOOKINFO], [se(lb)]);
    const proxy = sidecarFor(push, 'productpage-v1');
    proxy.locality = { region: 'us-east', zone: 'us-east-1', subZone: 'a' };
    const cla = gen(proxy, push, TypeUrl.ClusterLoadAssignment, ['outbound|80||geo.example.com'])[0];
    return (cla.endpoints as EnvoyJson[]).map((g) => `${Object.values(g.locality as EnvoyJson).join('/')}:p${g.priority ?? 0}:w${g.load_balancing_weight}`);
  };
  assert.deepEqual(eds('{enabled: true}'), ['ap-south/ap-south-1/a:p3:w1', 'eu-west/eu-west-1/a:p3:w1', 'us-east/us-east-1/a:p0:w1', 'us-east/us-east-1/b:p1:w1', 'us-east/us-east-2/a:p2:w1']);
  assert.deepEqual(eds('{failover: [{from: us-east, to: eu-west}]}'), ['ap-south/ap-south-1/a:p4:w1', 'eu-west/eu-west-1/a:p3:w1', 'us-east/us-east-1/a:p0:w1', 'us-east/us-east-1/b:p1:w1', 'us-east/us-east-2/a:p2:w1']);
  assert.deepEqual(eds('{distribute: [{from: "us-east/us-east-1/*", to: {"us-east/us-east-1/*": 80, "eu-west/*": 20}}]}'), ['eu-west/eu-west-1/a:p0:w20', 'us-east/us-east-1/a:p0:w40', 'us-east/us-east-1/b:p0:w40']);
});

test('retry budget, PROXY protocol, DestinationRule workloadSelector, Sidecar inbound pool, mesh retry and h2 defaults, ISTIO_MUTUAL gateway', () => {
  const push = pushFor([BOOKINFO, GATEWAY], [MORE_POLICY], { h2UpgradePolicy: 'UPGRADE', defaultHttpRetryPolicy: { attempts: 5, retryOn: 'gateway-error' } });
  const pp = sidecarFor(push, 'productpage-v1');
  const ppDetails = byName(gen(pp, push, TypeUrl.Cluster), 'outbound|9080||details.default.svc.cluster.local');
  assert.equal(ppDetails.lb_policy, 'RANDOM', 'the selecting DestinationRule wins for productpage');
  const rv = sidecarFor(push, 'reviews-v1');
  const details = byName(gen(rv, push, TypeUrl.Cluster), 'outbound|9080||details.default.svc.cluster.local');
  assert.equal(details.lb_policy, 'LEAST_REQUEST');
  assert.equal(json(((details.circuit_breakers as EnvoyJson).thresholds as EnvoyJson[])[0].retry_budget), json({ budget_percent: { value: 25 }, min_retry_concurrency: 5 }));
  assert.match(json(details.transport_socket_matches), /upstream_proxy_protocol.*"version":"V2"/);
  assert.match(json(details.typed_extension_protocol_options), /"http2_protocol_options"/, 'mesh h2UpgradePolicy UPGRADE');
  const rc = byName(gen(rv, push, TypeUrl.RouteConfiguration, ['9080']), '9080');
  const route = ((rc.virtual_hosts as EnvoyJson[])[0].routes as EnvoyJson[])[0].route as EnvoyJson;
  assert.equal((route.retry_policy as EnvoyJson).num_retries, 5);
  assert.equal((route.retry_policy as EnvoyJson).retry_on, 'gateway-error');
  const det = sidecarFor(push, 'details-v1');
  const inbound = byName(gen(det, push, TypeUrl.Cluster), 'inbound|9080||');
  assert.equal(((inbound.circuit_breakers as EnvoyJson).thresholds as EnvoyJson[])[0].max_pending_requests, 7);
  assert.match(json(inbound.typed_extension_protocol_options), /"idle_timeout":"5s"/);
  const gw = byName(gen(ingressGateway(), push, TypeUrl.Listener), '0.0.0.0_15443');
  assert.match(json(gw.filter_chains), /"name":"ROOTCA"/);
});

test('auto mTLS off: plaintext clusters and inbound chains, no TLS inspector', () => {
  const push = pushFor([BOOKINFO], [], { enableAutoMtls: false });
  const rv = sidecarFor(push, 'reviews-v1');
  const cds = gen(rv, push, TypeUrl.Cluster);
  assert.ok(cds.every((c) => c.transport_socket_matches === undefined && c.transport_socket === undefined));
  const vi = byName(gen(rv, push, TypeUrl.Listener), 'virtualInbound');
  assert.doesNotMatch(json(vi), /tls_inspector|"transport_protocol":"tls"|DownstreamTlsContext/);
});

test('JWT claim routing: @request.auth.claims headers become istio_authn metadata matches', () => {
  const push = pushFor([BOOKINFO, net('destination-rule-all.yaml')], [JWT_CLAIM_ROUTING]);
  const rc = byName(gen(sidecarFor(push, 'productpage-v1'), push, TypeUrl.RouteConfiguration, ['9080']), '9080');
  const vh = (rc.virtual_hosts as EnvoyJson[]).find((v) => v.name === 'reviews.default.svc.cluster.local:9080')!;
  const m = (vh.routes as EnvoyJson[])[0].match as EnvoyJson;
  assert.equal(m.headers, undefined);
  assert.equal(json(m.dynamic_metadata), json([
    { filter: 'istio_authn', path: [{ key: 'request.auth.claims' }, { key: 'groups' }], value: { list_match: { one_of: { string_match: { exact: 'group1' } } } } },
    { filter: 'istio_authn', path: [{ key: 'request.auth.claims' }, { key: 'org' }, { key: 'team' }], value: { list_match: { one_of: { string_match: { prefix: 'x' } } } }, invert: true },
  ]));
});

test('VirtualService hosts that name no service get their own virtual host (on port 80 when alone)', () => {
  const push = pushFor([sample('httpbin', 'httpbin.yaml'), sample('curl', 'curl.yaml')], [`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: external, namespace: default}
spec:
  hosts: [httpbin.org]
  http: [{timeout: 3s, route: [{destination: {host: httpbin.org}}]}]`]);
  const rc = byName(gen(sidecarFor(push, 'curl'), push, TypeUrl.RouteConfiguration, ['80']), '80');
  const vh = (rc.virtual_hosts as EnvoyJson[]).find((v) => v.name === 'httpbin.org:80');
  assert.ok(vh, 'httpbin.org:80 virtual host');
  assert.deepEqual(vh.domains, ['httpbin.org']);
  assert.equal(((vh.routes as EnvoyJson[])[0].route as EnvoyJson).timeout, '3s');
  assert.equal((rc.virtual_hosts as EnvoyJson[]).at(-1)!.name, 'allow_any');
});

test('PeerAuthentication: STRICT drops plaintext chains, port-level DISABLE drops mTLS, DISABLE namespaces get plaintext from auto mTLS', () => {
  const push = pushFor([BOOKINFO], [PEER_AUTHENTICATION]);
  const chainsOf = (workload: string) => {
    const vi = byName(gen(sidecarFor(push, workload), push, TypeUrl.Listener), 'virtualInbound');
    return (vi.filter_chains as EnvoyJson[]).map((c) => `${c.name}:${(c.filter_chain_match as EnvoyJson)?.transport_protocol ?? '*'}`);
  };
  assert.deepEqual(chainsOf('reviews-v1'), ['virtualInbound-blackhole:*', '0.0.0.0_9080:tls', 'virtualInbound-catchall-tls:tls', 'virtualInbound:*']);
  const last = (byName(gen(sidecarFor(push, 'reviews-v1'), push, TypeUrl.Listener), 'virtualInbound').filter_chains as EnvoyJson[]).at(-1)!;
  assert.match(json(last.filters), /BlackHoleCluster/, 'STRICT: plaintext to other ports is dropped');
  assert.deepEqual(chainsOf('ratings-v1'), ['virtualInbound-blackhole:*', '0.0.0.0_9080:raw_buffer', 'virtualInbound-catchall-tls:tls', 'virtualInbound:*']);
  const cds = gen(sidecarFor(push, 'productpage-v1'), push, TypeUrl.Cluster);
  assert.ok(byName(cds, 'outbound|9080||reviews.default.svc.cluster.local').transport_socket_matches);
  assert.equal(byName(cds, 'outbound|8080||old.legacy.svc.cluster.local').transport_socket_matches, undefined);
});

test('Gateway ports 80 and 8080 targeting 8080 share one listener; merged routes keep catch-alls last', () => {
  const push = pushFor([BOOKINFO, net('bookinfo-gateway.yaml'), sample('httpbin', 'httpbin.yaml'), sample('httpbin', 'httpbin-gateway.yaml'), sample('helloworld', 'helloworld.yaml'), sample('helloworld', 'helloworld-gateway.yaml'), GATEWAY]);
  const gw = ingressGateway();
  assert.deepEqual(names(gen(gw, push, TypeUrl.Listener)), ['0.0.0.0_8080']);
  const rc = gen(gw, push, TypeUrl.RouteConfiguration);
  assert.deepEqual(names(rc), ['http.8080']);
  const routes = ((rc[0].virtual_hosts as EnvoyJson[])[0].routes as EnvoyJson[]).map((r) => json(r.match));
  assert.ok(routes.indexOf(json({ path: '/hello', case_sensitive: true })) < routes.indexOf(json({ prefix: '/' })));
  assert.equal(routes.at(-1), json({ prefix: '/' }));
});

test('mesh TCP and TLS routes: weighted subsets with destinationSubnets, per-port routes, SNI routing', () => {
  const push = pushFor([sample('tcp-echo', 'tcp-echo.yaml'), sample('curl', 'curl.yaml')], [MESH_L4_ROUTES]);
  const curl = sidecarFor(push, 'curl');
  const lds = gen(curl, push, TypeUrl.Listener);
  const vip = push.services.find((s) => s.name === 'tcp-echo')!.addresses[0];
  const l9000 = byName(lds, `${vip}_9000`);
  const chains = l9000.filter_chains as EnvoyJson[];
  assert.equal(json(chains[0].filter_chain_match), json({ prefix_ranges: [{ address_prefix: '10.96.0.0', prefix_len: 16 }] }));
  assert.match(json(chains[0].filters), /"weighted_clusters":\{"clusters":\[\{"name":"outbound\|9000\|v1\|tcp-echo[^"]*","weight":70\},\{"name":"outbound\|9000\|v2\|tcp-echo[^"]*","weight":30\}/);
  assert.match(json(l9000.default_filter_chain), /PassthroughCluster/);
  assert.match(json(byName(lds, `${vip}_9001`).filter_chains), /outbound\|9001\|v2\|tcp-echo/);
  const tls = byName(lds, '0.0.0.0_443');
  const tlsChains = (tls.filter_chains as EnvoyJson[]).map((c) => [json((c.filter_chain_match as EnvoyJson).server_names), json(c.filters).match(/"cluster":"([^"]+)"/)![1]]);
  assert.deepEqual(tlsChains, [[json(['a.tls.example.com']), 'outbound|443||b.tls.example.com'], [json(['b.tls.example.com']), 'outbound|443||b.tls.example.com']]);
});

test('wildcard VirtualService hosts: the most specific wildcard wins for a service', () => {
  const vs = (name: string, host: string, subset: string) => `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: default}
spec: {hosts: ["${host}"], http: [{route: [{destination: {host: reviews.default.svc.cluster.local, subset: ${subset}}}]}]}`;
  const push = pushFor([BOOKINFO, net('destination-rule-all.yaml')], [vs('broad', '*.svc.cluster.local', 'v1'), vs('narrow', '*.default.svc.cluster.local', 'v3')]);
  const rc = byName(gen(sidecarFor(push, 'productpage-v1'), push, TypeUrl.RouteConfiguration, ['9080']), '9080');
  const vh = (rc.virtual_hosts as EnvoyJson[]).find((v) => v.name === 'details.default.svc.cluster.local:9080')!;
  assert.match(json(vh.routes), /outbound\|9080\|v3\|reviews/);
});

test('Spar-only HTTP filter hook: inserted before the router, always is_optional, gone when unregistered', async () => {
  const { registerHttpFilterHook } = await import('../../src/xds/gen/http-connection-manager.js');
  const push = pushFor([BOOKINFO]);
  const pp = sidecarFor(push, 'productpage-v1');
  const off = registerHttpFilterHook((ctx) => (ctx.direction === 'outbound' ? { name: 'spar.stats', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig' } } : undefined));
  try {
    const hcm = ((byName(gen(pp, push, TypeUrl.Listener), '0.0.0.0_9080').filter_chains as EnvoyJson[])[0].filters as EnvoyJson[])[0].typed_config as EnvoyJson;
    const filters = hcm.http_filters as EnvoyJson[];
    assert.deepEqual(filters.map((f) => f.name), ['envoy.filters.http.fault', 'envoy.filters.http.cors', 'spar.stats', 'envoy.filters.http.router']);
    assert.equal(filters[2].is_optional, true);
    assert.doesNotMatch(json(byName(gen(pp, push, TypeUrl.Listener), 'virtualInbound')), /spar\.stats/, 'the hook declined inbound');
  } finally {
    off();
  }
  assert.doesNotMatch(json(gen(pp, push, TypeUrl.Listener)), /spar\.stats/);
});

test('every generated resource in this file fit Envoy\'s schema', () => {
  assert.ok(checked.count > 100, `only ${checked.count} resources checked`);
});

test('a Sidecar with only outboundTrafficPolicy REGISTRY_ONLY scopes nothing: every service stays visible, unknown hosts get block_all (regression: it hid every service)', () => {
  const push = pushFor([BOOKINFO], [`
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: default}
spec:
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}`]);
  const pp = sidecarFor(push, 'productpage-v1');
  const cds = names(gen(pp, push, TypeUrl.Cluster));
  for (const svc of ['reviews', 'ratings', 'details']) assert.ok(cds.includes(`outbound|9080||${svc}.default.svc.cluster.local`), svc);
  const rc = byName(gen(pp, push, TypeUrl.RouteConfiguration, ['9080']), '9080');
  assert.equal((rc.virtual_hosts as EnvoyJson[]).at(-1)!.name, 'block_all');
});

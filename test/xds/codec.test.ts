/** The Envoy JSON ⇄ protobuf codec: round trips in Envoy's JSON form, Any packing, errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeDiscovery, decodeResource, encodeDiscoveryResponse, encodeResource, checkMessage, type EnvoyJson } from '../../src/xds/codec.js';
import { TypeUrl } from '../../src/xds/resource-types.js';

const cluster: EnvoyJson = {
  '@type': TypeUrl.Cluster,
  name: 'outbound|9080|v1|reviews.default.svc.cluster.local',
  type: 'EDS',
  connect_timeout: '10s',
  eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: 'outbound|9080|v1|reviews.default.svc.cluster.local' },
  circuit_breakers: { thresholds: [{ max_connections: 1, max_pending_requests: 1, max_retries: 4294967295 }] },
  typed_extension_protocol_options: {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      common_http_protocol_options: { max_requests_per_connection: 1, idle_timeout: '3600s' },
      use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} },
    },
  },
  metadata: { filter_metadata: { istio: { services: [{ host: 'reviews.default.svc.cluster.local', name: 'reviews', namespace: 'default' }], subset: 'v1' } } },
};

test('a cluster round-trips through binary unchanged (JSON form, nested Any, Struct, wrappers)', () => {
  const enc = encodeResource(cluster);
  assert.equal(enc.typeUrl, TypeUrl.Cluster);
  assert.ok(enc.value.length > 100);
  assert.deepEqual(decodeResource(enc), cluster);
});

test('a DiscoveryResponse carries JSON and pre-encoded resources alike', () => {
  const pre = encodeResource(cluster);
  const bytes = encodeDiscoveryResponse({ version_info: '1', type_url: TypeUrl.Cluster, nonce: 'n1', resources: [cluster, pre] });
  const back = decodeDiscovery('DiscoveryResponse', bytes);
  assert.equal(back.version_info, '1');
  assert.equal(back.nonce, 'n1');
  assert.deepEqual(back.resources, [cluster, cluster]);
});

test('a field Envoy does not have is an error naming it', () => {
  const err = checkMessage(TypeUrl.Cluster, { name: 'x', conect_timeout: '1s' });
  assert.match(err ?? '', /conect_timeout/);
  assert.match(checkMessage(TypeUrl.Cluster, { name: 'x', type: 'NOPE' }) ?? '', /NOPE/);
  assert.equal(checkMessage(TypeUrl.Cluster, { name: 'x', type: 'STATIC' }), undefined);
});

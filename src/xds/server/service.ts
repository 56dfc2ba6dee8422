/**
 * The gRPC service `envoy.service.discovery.v3.AggregatedDiscoveryService` for @grpc/grpc-js,
 * with serializers from src/xds/codec.ts instead of proto-loader: requests are decoded to Envoy's
 * JSON form; responses leave the server already framed (wire.ts), so their serializer only wraps
 * the bytes. The same definition builds test and bench clients (`adsClient`).
 */
import * as grpc from '@grpc/grpc-js';
import { decodeDiscovery, encodeDiscovery, type EnvoyJson } from '../codec.js';

export const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

const asBuffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/** Server side: requests in JSON form, responses as framed bytes. */
export const adsServiceDefinition: grpc.ServiceDefinition = {
  StreamAggregatedResources: {
    path: `/${ADS_SERVICE}/StreamAggregatedResources`,
    requestStream: true,
    responseStream: true,
    requestSerialize: (j: EnvoyJson) => asBuffer(encodeDiscovery('DiscoveryRequest', j)),
    requestDeserialize: (b: Buffer) => decodeDiscovery('DiscoveryRequest', b),
    responseSerialize: asBuffer,
    responseDeserialize: (b: Buffer) => b,
  },
  DeltaAggregatedResources: {
    path: `/${ADS_SERVICE}/DeltaAggregatedResources`,
    requestStream: true,
    responseStream: true,
    requestSerialize: (j: EnvoyJson) => asBuffer(encodeDiscovery('DeltaDiscoveryRequest', j)),
    requestDeserialize: (b: Buffer) => decodeDiscovery('DeltaDiscoveryRequest', b),
    responseSerialize: asBuffer,
    responseDeserialize: (b: Buffer) => b,
  },
};

/** The single-type xDS services (Envoy's `api_config_source: {api_type: GRPC}`), by the type they serve. */
export const SINGLE_TYPE_SERVICES: readonly { service: string; sotw: string; delta: string; typeUrl: string }[] = [
  { service: 'envoy.service.cluster.v3.ClusterDiscoveryService', sotw: 'StreamClusters', delta: 'DeltaClusters', typeUrl: 'type.googleapis.com/envoy.config.cluster.v3.Cluster' },
  { service: 'envoy.service.endpoint.v3.EndpointDiscoveryService', sotw: 'StreamEndpoints', delta: 'DeltaEndpoints', typeUrl: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment' },
  { service: 'envoy.service.listener.v3.ListenerDiscoveryService', sotw: 'StreamListeners', delta: 'DeltaListeners', typeUrl: 'type.googleapis.com/envoy.config.listener.v3.Listener' },
  { service: 'envoy.service.route.v3.RouteDiscoveryService', sotw: 'StreamRoutes', delta: 'DeltaRoutes', typeUrl: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration' },
  { service: 'envoy.service.secret.v3.SecretDiscoveryService', sotw: 'StreamSecrets', delta: 'DeltaSecrets', typeUrl: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret' },
];

/** The definition of one single-type service, with the same serializers as ADS. */
export function singleTypeServiceDefinition(s: (typeof SINGLE_TYPE_SERVICES)[number]): grpc.ServiceDefinition {
  return {
    [s.sotw]: { ...adsServiceDefinition.StreamAggregatedResources, path: `/${s.service}/${s.sotw}` },
    [s.delta]: { ...adsServiceDefinition.DeltaAggregatedResources, path: `/${s.service}/${s.delta}` },
  };
}

/**
 * A client of the ADS service (tests, bench, simulated proxies): requests given in JSON form,
 * responses delivered as raw bytes for the caller to decode as much as it needs.
 */
export const AdsClient = grpc.makeGenericClientConstructor(adsServiceDefinition, 'AggregatedDiscoveryService');

/**
 * Message size limits of xDS clients and of the pilot's server. grpc-js (like grpc-go) caps what a
 * client receives at 4 MiB by default, and a SotW CDS or EDS response of a mesh of a few thousand
 * services is larger (~1 KB per cluster: 4.9 MB at 2,000 services of the control-plane bench). Envoy
 * sets no limit on what it receives from its xDS server, and Istio's agent dials istiod with a
 * receive limit of math.MaxInt32 (pkg/grpc ClientOptions); istiod sends without a limit (grpc-go's
 * default) and caps what it receives at ISTIO_GPRC_MAXRECVMSGSIZE (4 MiB by default). Spar's
 * simulated proxies and `spar proxy` receive without a limit; the pilot sends without one and
 * accepts requests up to 64 MiB (a request lists resource names: tens of bytes each).
 */
export const XDS_CLIENT_CHANNEL_OPTIONS: grpc.ChannelOptions = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };
export const XDS_SERVER_OPTIONS: grpc.ServerOptions = { 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': 64 * 1024 * 1024 };
/** grpc's default receive limit, what a client that sets none rejects above. */
export const GRPC_DEFAULT_MAX_RECEIVE = 4 * 1024 * 1024;

export function adsClient(address: string, options: grpc.ChannelOptions = {}): grpc.Client {
  return new AdsClient(address, grpc.credentials.createInsecure(), { ...XDS_CLIENT_CHANNEL_OPTIONS, ...options });
}

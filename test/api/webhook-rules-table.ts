/**
 * The shape of a row of the webhook rules table (webhook-rules.test.ts) and the YAML document a
 * row stands for.
 */
import { stringify } from 'yaml';

export type Expect = 'ACCEPT' | 'REJECT' | 'WARN' | 'CLEAN';

export interface Row {
  id: string;
  kind: string;
  spec: unknown;
  expect: Expect;
  /** Substrings; any one found in a diagnostic of the expected level passes. */
  reason?: string | string[];
  /** Expected field path of the matching diagnostic. */
  path?: string;
  metadata?: Record<string, unknown>;
  /** Only Istio's CRD schema rejects this (the webhook never sees such an object). */
  schemaOnly?: boolean;
}

const API: Record<string, string> = {
  Gateway: 'networking.istio.io/v1', VirtualService: 'networking.istio.io/v1', DestinationRule: 'networking.istio.io/v1',
  ServiceEntry: 'networking.istio.io/v1', Sidecar: 'networking.istio.io/v1', AuthorizationPolicy: 'security.istio.io/v1',
  PeerAuthentication: 'security.istio.io/v1', RequestAuthentication: 'security.istio.io/v1',
};

/** The YAML document a row stands for (namespace `default`, name `r1` unless the row says). */
export function rowYaml(row: Row): string {
  const metadata = { name: 'r1', namespace: 'default', ...row.metadata };
  return stringify({ apiVersion: API[row.kind], kind: row.kind, metadata, spec: row.spec });
}

/**
 * SDS: the gateway certificates the pilot serves (Istio: xds/sds.go). A Gateway server's
 * `credentialName: bookinfo-cert` becomes secret `kubernetes://bookinfo-cert` (tls.crt/tls.key of
 * the Kubernetes Secret in the gateway's namespace) and, for MUTUAL, `kubernetes://bookinfo-cert-cacert`
 * (ca.crt of that Secret or of a Secret named `<name>-cacert`). Workload certificates are not
 * here: the agent serves those.
 */
import type { Proxy } from '../../model/proxy.js';
import type { PushContext } from '../../model/push-context.js';
import type { EnvoyJson } from '../codec.js';
import { TypeUrl } from '../resource-types.js';
import { gatewayPorts } from './gateway.js';

const PREFIX = 'kubernetes://';

function secretData(push: PushContext, ns: string, name: string): Record<string, string> | undefined {
  const s = push.secrets.get(`${ns}/${name}`);
  if (!s) return undefined;
  const data = (s.raw.data ?? {}) as Record<string, string>;
  const stringData = (s.raw.stringData ?? {}) as Record<string, string>;
  const out: Record<string, string> = { ...data };
  for (const [k, v] of Object.entries(stringData)) out[k] = Buffer.from(v, 'utf8').toString('base64');
  return out;
}

/** One secret by its SDS name, read from the proxy's namespace; undefined when absent. */
export function secretFor(proxy: Proxy, push: PushContext, sdsName: string): EnvoyJson | undefined {
  if (!sdsName.startsWith(PREFIX)) return undefined;
  const ref = sdsName.slice(PREFIX.length);
  const isCa = ref.endsWith('-cacert');
  const base = isCa ? ref.slice(0, -'-cacert'.length) : ref;
  if (isCa) {
    const ca = secretData(push, proxy.namespace, ref)?.['ca.crt'] ?? secretData(push, proxy.namespace, base)?.['ca.crt'] ?? secretData(push, proxy.namespace, ref)?.cacert;
    if (!ca) return undefined;
    return { '@type': TypeUrl.Secret, name: sdsName, validation_context: { trusted_ca: { inline_bytes: ca } } };
  }
  const d = secretData(push, proxy.namespace, base);
  const crt = d?.['tls.crt'] ?? d?.cert;
  const key = d?.['tls.key'] ?? d?.key;
  if (!crt || !key) return undefined;
  return { '@type': TypeUrl.Secret, name: sdsName, tls_certificate: { certificate_chain: { inline_bytes: crt }, private_key: { inline_bytes: key } } };
}

export function generateSecrets(proxy: Proxy, push: PushContext, names?: string[]): EnvoyJson[] {
  let wanted = names;
  if (!wanted?.length) {
    const all = new Set<string>();
    if (proxy.type === 'router') {
      for (const gp of gatewayPorts(proxy, push)) {
        for (const gs of gp.servers) {
          const tls = gs.server.tls;
          const creds = tls?.credentialNames?.length ? tls.credentialNames : tls?.credentialName ? [tls.credentialName] : [];
          for (const c of creds) {
            all.add(PREFIX + c);
            if (tls?.mode === 'MUTUAL' || tls?.mode === 'OPTIONAL_MUTUAL') all.add(`${PREFIX}${tls.caCertCredentialName ?? c}-cacert`);
          }
        }
      }
    }
    wanted = [...all];
  }
  return wanted.map((n) => secretFor(proxy, push, n)).filter((s): s is EnvoyJson => !!s);
}

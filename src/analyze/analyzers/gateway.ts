/**
 * Gateway analyzers (Istio's analyzers/gateway): the gateway workload exists and its Service
 * exposes each server port (IST0101, IST0162), TLS credentials exist beside the gateway workload
 * and hold a certificate valid today (IST0101, IST0161), no two Gateways on the same workload and port claim the same host (IST0145), and
 * no two Gateways on one workload serve the same certificate (IST0138).
 */
import { X509Certificate } from 'node:crypto';
import type { ConfigResource } from '../../config/resource.js';
import { register } from '../analyzer.js';
import { firstSelectorKey, selectorMatches, selectorString, type Labels } from '../hosts.js';
import { MSG, fullName, message } from '../messages.js';
import { arr, labelsOf, num, obj, str, strings } from '../values.js';

/** The path Istio points selector messages at: the selector's first label. */
function selectorPath(sel: string): (string | number)[] {
  const k = firstSelectorKey(sel);
  return k ? ['spec', 'selector', k] : ['spec', 'selector'];
}

register({
  name: 'gateway.IngressGatewayPortAnalyzer',
  description: "Checks a gateway's ports against the gateway's Kubernetes service ports",
  inputs: ['Gateway', 'Pod', 'Service'],
  emits: [MSG.ReferencedResourceNotFound, MSG.GatewayPortNotDefinedOnService],
  analyze({ snapshot, report }) {
    for (const gw of snapshot.of('Gateway')) {
      const selector = labelsOf(gw.spec.selector);
      const sel = selectorString(selector);
      const targetPorts = new Set<number>();
      const servicePorts = new Set<number>();
      const pods = snapshot.podsMatching(selector);
      for (const pod of pods) {
        for (const svc of snapshot.of('Service')) {
          if (svc.group !== '' || svc.namespace !== pod.namespace) continue;
          if (!selectorMatches(labelsOf(svc.spec.selector), pod.labels)) continue;
          for (const p0 of arr(svc.spec.ports)) {
            const p = obj(p0);
            // The API server defaults an unset protocol to TCP; files carry no defaults.
            if ((str(p.protocol) || 'TCP') !== 'TCP') continue;
            const tp = num(p.targetPort);
            if (tp !== 0) {
              targetPorts.add(tp);
              servicePorts.add(num(p.port));
            } else targetPorts.add(num(p.port));
          }
        }
      }
      if (pods.length === 0) {
        report(message(MSG.ReferencedResourceNotFound, gw, ['selector', sel], selectorPath(sel)));
        continue;
      }
      for (const s of arr(gw.spec.servers)) {
        const port = obj(obj(s).port);
        if (!obj(s).port) continue;
        const n = num(port.number);
        if (targetPorts.has(n) || servicePorts.has(n)) continue;
        report(message(MSG.GatewayPortNotDefinedOnService, gw, [n, sel], selectorPath(sel)));
      }
    }
  },
});

register({
  name: 'gateway.SecretAnalyzer',
  description: "Checks a gateway's referenced secrets for correctness",
  inputs: ['Gateway', 'Pod', 'Secret'],
  emits: [MSG.ReferencedResourceNotFound, MSG.InvalidGatewayCredential],
  analyze({ snapshot, report }) {
    for (const gw of snapshot.of('Gateway')) {
      const selector = labelsOf(gw.spec.selector);
      // The credential lives in the namespace of the gateway workload, not of the Gateway resource.
      const pod = snapshot.podsMatching(selector)[0];
      if (!pod) {
        const sel = selectorString(selector);
        report(message(MSG.ReferencedResourceNotFound, gw, ['selector', sel], selectorPath(sel)));
        continue;
      }
      arr(gw.spec.servers).forEach((s, i) => {
        const cn = str(obj(obj(s).tls).credentialName);
        if (cn === '') return;
        const slash = cn.indexOf('/');
        const [ns, name] = slash >= 0 ? [cn.slice(0, slash), cn.slice(slash + 1)] : [pod.namespace, cn];
        const secret = snapshot.find('Secret', ns, name);
        const path = ['spec', 'servers', i, 'tls', 'credentialName'];
        if (!secret) report(message(MSG.ReferencedResourceNotFound, gw, ['credentialName', cn], path));
        else if (!validCredential(secret)) report(message(MSG.InvalidGatewayCredential, gw, [gw.name, pod.namespace], path));
      });
    }
  },
});

/** Decoded `data` (base64) merged with `stringData` of a Secret. */
function secretData(secret: ConfigResource): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(obj(secret.raw.data))) out.set(k, Buffer.from(str(v), 'base64'));
  for (const [k, v] of Object.entries(obj(secret.raw.stringData))) out.set(k, Buffer.from(str(v), 'utf8'));
  return out;
}

/**
 * Istio's ExtractCertInfo + ValidateCertificate: `cert`/`key` or `tls.crt`/`tls.key` present and
 * non-empty, the first PEM block a certificate, valid now.
 */
function validCredential(secret: ConfigResource): boolean {
  const data = secretData(secret);
  const pair = (c: string, k: string) => (data.get(c)?.length ?? 0) > 0 && (data.get(k)?.length ?? 0) > 0;
  const cert = pair('cert', 'key') ? data.get('cert')! : pair('tls.crt', 'tls.key') ? data.get('tls.crt')! : undefined;
  if (!cert) return false;
  const m = /-----BEGIN [^-]+-----[\s\S]*?-----END [^-]+-----/.exec(cert.toString('utf8'));
  if (!m) return false;
  try {
    const x = new X509Certificate(m[0]);
    const now = Date.now();
    return now >= Date.parse(x.validFrom) && now <= Date.parse(x.validTo);
  } catch {
    return false;
  }
}

/** Gateways by `selector~port`: gateway `ns/name` -> host -> bind. */
type GatewayMap = Map<string, Map<string, Map<string, string>>>;

function parseSelector(s: string): Labels {
  const out: Record<string, string> = {};
  for (const pair of s.split(',')) {
    const kv = pair.split('=');
    if (kv.length === 2) out[kv[0]] = kv[1];
  }
  return out;
}

register({
  name: 'gateway.ConflictingGatewayAnalyzer',
  description: "Checks a gateway's selector, port number and hosts",
  inputs: ['Gateway', 'Pod'],
  emits: [MSG.ReferencedResourceNotFound, MSG.ConflictingGateways],
  analyze({ snapshot, report }) {
    const gws: GatewayMap = new Map();
    for (const gw of snapshot.of('Gateway')) {
      const sel = selectorString(labelsOf(gw.spec.selector));
      for (const s0 of arr(gw.spec.servers)) {
        const s = obj(s0);
        const key = `${sel}~${num(obj(s.port).number)}`;
        if (!gws.has(key)) gws.set(key, new Map());
        const hb = new Map<string, string>();
        for (const h of strings(s.hosts)) hb.set(h, str(s.bind));
        gws.get(key)!.set(fullName(gw), hb);
      }
    }
    for (const gw of snapshot.of('Gateway')) {
      const selector = labelsOf(gw.spec.selector);
      const sel = selectorString(selector);
      const id = fullName(gw);
      const hits: GatewayMap = new Map();
      for (const [key, v] of gws) {
        const xSel = key.slice(0, key.lastIndexOf('~'));
        let matched = xSel === sel;
        if (!matched && (xSel.includes(sel) || sel.includes(xSel))) {
          const x = parseSelector(xSel);
          matched = snapshot.pods.some((p) => selectorMatches(selector, p.labels) && selectorMatches(x, p.labels));
        }
        if (matched) hits.set(key, v);
      }
      if (sel !== '' && hits.size === 0) {
        report(message(MSG.ReferencedResourceNotFound, gw, ['selector', sel], selectorPath(sel)));
        continue;
      }
      arr(gw.spec.servers).forEach((s0, si) => {
        const s = obj(s0);
        const port = String(num(obj(s.port).number));
        const hosts = strings(s.hosts);
        const bind = str(s.bind);
        const conflicts: string[] = [];
        for (const [key, v] of hits) {
          if (key.slice(key.lastIndexOf('~') + 1) !== port) continue;
          for (const [other, known] of v) {
            if (other === id) continue;
            // Istio's CheckDuplicates: a host already bound the same way conflicts; otherwise it becomes known.
            const dup = hosts.some((h) => known.has(h) && known.get(h) === bind);
            if (!dup) for (const h of hosts) known.set(h, bind);
            if (dup) conflicts.push(other);
          }
        }
        if (conflicts.length > 0) {
          // istioctl points at the Gateway; the server's port says which of its servers conflicts.
          report(message(MSG.ConflictingGateways, gw, [conflicts.sort().join(','), sel, port, hosts.join(',')], ['spec', 'servers', si, 'port', 'number']));
        }
      });
    }
  },
});

/** Same credentialName, or the same inline certificate and key. */
function sameCertificate(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const [ca, cb] = [str(a.credentialName), str(b.credentialName)];
  if (ca && cb) return ca === cb;
  if (ca || cb) return false;
  const [sa, sb] = [str(a.serverCertificate), str(b.serverCertificate)];
  if (!sa || !sb || sa !== sb) return false;
  const [ka, kb] = [str(a.privateKey), str(b.privateKey)];
  return ka !== '' && kb !== '' && ka === kb;
}

register({
  name: 'gateway.CertificateAnalyzer',
  description: 'Checks a gateway certificate',
  inputs: ['Gateway'],
  emits: [MSG.GatewayDuplicateCertificate],
  analyze({ snapshot, report }) {
    const gws = snapshot.of('Gateway');
    for (const gw of gws) {
      const selector = labelsOf(gw.spec.selector);
      // Gateways whose selector includes this one's run on (at least) the same workloads.
      const peers = gws.filter((o) => o !== gw && selectorMatches(selector, labelsOf(o.spec.selector)));
      for (const other of peers) {
        for (const s of arr(gw.spec.servers).map(obj)) {
          for (const t of arr(other.spec.servers).map(obj)) {
            if (s.tls == null || t.tls == null) continue;
            if (sameCertificate(obj(s.tls), obj(t.tls))) {
              report(message(MSG.GatewayDuplicateCertificate, gw, [[fullName(gw), fullName(other)]], ['metadata', 'name']));
            }
          }
        }
      }
    }
  },
});

/**
 * ServiceEntry analyzers (Istio's analyzers/serviceentry): TCP ports without addresses when
 * nothing allocates them (IST0134), and ServiceEntries that give the same host and port
 * different protocols where they are visible together (IST0177).
 */
import type { ConfigResource } from '../../config/resource.js';
import { register } from '../analyzer.js';
import { EXPORT_ALL, EXPORT_LOCAL } from '../hosts.js';
import { MSG, fullName, message } from '../messages.js';
import { arr, labelsOf, num, obj, str, strings } from '../values.js';

register({
  name: 'serviceentry.Analyzer',
  description: 'Checks the validity of ServiceEntry',
  inputs: ['ServiceEntry', 'MeshConfig'],
  emits: [MSG.ServiceEntryAddressesRequired],
  analyze({ snapshot, report }) {
    // With DNS capture and auto-allocation on, the agent gives every ServiceEntry an address.
    const meta = labelsOf(obj(snapshot.meshConfig.defaultConfig).proxyMetadata);
    const autoAllocated = meta.ISTIO_META_DNS_CAPTURE === 'true' && (meta.ISTIO_META_DNS_AUTO_ALLOCATE === 'true' || meta.PILOT_ENABLE_IP_AUTOALLOCATE === 'true');
    if (autoAllocated) return;
    for (const se of snapshot.of('ServiceEntry')) {
      if (se.spec.addresses != null) continue;
      if (arr(obj(se.raw.status).addresses).length > 0) continue;
      arr(se.spec.ports).forEach((p0, i) => {
        const proto = str(obj(p0).protocol);
        if (proto === '' || proto.toUpperCase() === 'TCP') report(message(MSG.ServiceEntryAddressesRequired, se, [], ['spec', 'ports', i, 'name']));
      });
    }
  },
});

register({
  name: 'serviceentry.ConflictingServiceEntryProtocolAnalyzer',
  description: 'Checks if multiple ServiceEntries define the same host and port with different protocols',
  inputs: ['ServiceEntry'],
  emits: [MSG.ConflictingServiceEntryProtocol],
  analyze({ snapshot, report }) {
    // scope \0 host \0 port -> entries
    const index = new Map<string, { protocol: string; se: ConfigResource }[]>();
    const key = (scope: string, host: string, port: number) => `${scope}\0${host}\0${port}`;
    for (const se of snapshot.of('ServiceEntry')) {
      const exportTo = strings(se.spec.exportTo);
      const scopes = exportTo.length === 0 || exportTo.includes(EXPORT_ALL)
        ? [EXPORT_ALL]
        : [...new Set(exportTo.map((e) => (e === EXPORT_LOCAL ? se.namespace : e)))];
      for (const scope of scopes) {
        for (const h of strings(se.spec.hosts)) {
          for (const p of arr(se.spec.ports).map(obj)) {
            const k = key(scope, h, num(p.number));
            if (!index.has(k)) index.set(k, []);
            index.get(k)!.push({ protocol: str(p.protocol), se });
          }
        }
      }
    }
    const reported = new Set<ConfigResource>();
    for (const [k, own] of index) {
      const [scope, host, port] = k.split('\0');
      const entries = scope === EXPORT_ALL ? own : [...own, ...(index.get(key(EXPORT_ALL, host, Number(port))) ?? [])];
      const protocols = [...new Set(entries.map((e) => e.protocol.toUpperCase()))].sort();
      if (protocols.length < 2) continue;
      const names = [...new Set(entries.map((e) => fullName(e.se)))].sort().join(', ');
      for (const e of entries) {
        if (reported.has(e.se)) continue;
        reported.add(e.se);
        report(message(MSG.ConflictingServiceEntryProtocol, e.se, [names, host, Number(port), protocols.join(', ')], ['metadata', 'name']));
      }
    }
  },
});

/**
 * `spar proxy-status [--pilot URL]`: istioctl's table of every connected proxy and, per xDS type,
 * whether it has what the pilot last sent (SYNCED), has not answered yet (STALE), rejected it
 * (NACKED, with Envoy's error below the table) or was never sent it (NOT SENT). Reads
 * /debug/syncz from the pilot's debug port.
 */
import { UserError } from '../common/errors.js';
import type { ProxySyncStatus, ShortType } from '../xds/server/status.js';

const COLUMNS: ShortType[] = ['CDS', 'LDS', 'EDS', 'RDS'];

export function formatProxyStatus(rows: ProxySyncStatus[]): string {
  const table = [['NAME', 'CLUSTER', ...COLUMNS, 'ISTIOD', 'VERSION']];
  const errors: string[] = [];
  for (const r of rows) {
    table.push([r.proxy, r.cluster_id, ...COLUMNS.map((t) => r.types[t].status), r.istiod, r.istio_version || '-']);
    for (const t of [...COLUMNS, 'SDS' as const]) {
      const n = r.types[t].nack;
      if (n) errors.push(`${r.proxy} ${t} NACKED (version ${n.version || 'none'} kept): ${n.message}`);
    }
  }
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  const lines = table.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]))).join('   ').trimEnd());
  return lines.join('\n') + '\n' + (errors.length ? '\n' + errors.join('\n') + '\n' : '');
}

export async function run(opts: { pilot: string; output: string }): Promise<void> {
  const base = opts.pilot.replace(/\/+$/, '');
  let rows: ProxySyncStatus[];
  try {
    const res = await fetch(`${base}/debug/syncz`);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    rows = (await res.json()) as ProxySyncStatus[];
  } catch (err) {
    throw new UserError(`cannot read sync status from ${base}/debug/syncz: ${(err as Error).message} (is \`spar pilot\` running? point --pilot at its debug port)`);
  }
  if (opts.output === 'json') process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
  else if (opts.output === 'text') process.stdout.write(formatProxyStatus(rows));
  else throw new UserError(`unknown output format "${opts.output}": use -o text or -o json`, 2);
}

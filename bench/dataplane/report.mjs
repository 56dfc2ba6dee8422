// Turning runs into figures: medians with their spread across repeats, latency added over the direct
// floor, CPU seconds per 1,000 requests, RSS; then the markdown table and an SVG chart (no deps).
import { PERCENTILES } from './fortio.mjs';

/** { median, min, max, n } of the finite numbers in xs; undefined when there are none. */
export function spread(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v[v.length - 1], n: v.length };
}

const key = (r) => `${r.protocol}|${r.rate}|${r.conns}`;

/**
 * One summary row per (protocol, cell, topology). Added latency is computed per repeat against the
 * direct run of the same repeat and cell (run next to it in time), then summarised.
 */
export function summarise(result) {
  const rows = [];
  const byCell = new Map();
  for (const r of result.runs) {
    if (!byCell.has(key(r))) byCell.set(key(r), []);
    byCell.get(key(r)).push(r);
  }
  for (const [, runs] of byCell) {
    const { protocol, rate, conns } = runs[0];
    const direct = new Map(runs.filter((r) => r.topology === 'direct' && r.ok).map((r) => [r.repeat, r]));
    for (const topo of result.topologies) {
      const avail = result.availability[topo.id]?.[protocol];
      const mine = runs.filter((r) => r.topology === topo.id && r.ok);
      const row = { protocol, rate, conns, topology: topo.id, label: topo.label };
      const failed = runs.filter((r) => r.topology === topo.id && !r.ok);
      if (!avail?.available) {
        rows.push({ ...row, status: 'not available yet', reason: avail?.reason ?? 'not started' });
        continue;
      }
      if (mine.length === 0) {
        rows.push({ ...row, status: 'failed', reason: failed[0]?.error ?? 'no run' });
        continue;
      }
      row.failedRuns = failed.length;
      row.status = 'measured';
      row.n = mine.length;
      row.latencyMs = {};
      row.addedMs = {};
      for (const [, name] of PERCENTILES) {
        row.latencyMs[name] = spread(mine.map((r) => r.latencyMs[name]));
        if (topo.id !== 'direct') {
          row.addedMs[name] = spread(mine.map((r) => (direct.has(r.repeat) ? r.latencyMs[name] - direct.get(r.repeat).latencyMs[name] : NaN)));
        }
      }
      row.achievedRps = spread(mine.map((r) => r.achievedRps));
      row.errors = mine.reduce((s, r) => s + r.errors, 0);
      row.machineBusyCpus = spread(mine.map((r) => r.machineBusyCpus));
      row.calls = mine.reduce((s, r) => s + r.calls, 0);
      const hops = mine[0].cpuSec.length;
      row.cpuPer1k = [];
      row.rssLoadMB = [];
      for (let i = 0; i < hops; i++) {
        row.cpuPer1k.push(spread(mine.map((r) => (r.cpuSec[i] / r.calls) * 1000)));
        row.rssLoadMB.push(spread(mine.map((r) => r.rssPeak[i] / 2 ** 20)));
      }
      row.cpuPer1kTotal = hops ? spread(mine.map((r) => (r.cpuSec.reduce((a, b) => a + b, 0) / r.calls) * 1000)) : undefined;
      row.rssIdleMB = (result.idleRss[topo.id]?.[protocol] ?? []).map((b) => b / 2 ** 20);
      rows.push(row);
    }
  }
  return rows;
}

const f = (x, d = 3) => (x === undefined || x === null || !Number.isFinite(x) ? '–' : x.toFixed(d));
const sp = (s, d = 3) => {
  if (!s) return '–';
  if (s.n < 2) return f(s.median, d);
  return `${f(s.median, d)} <sub>${f(s.min, d)}…${f(s.max, d)}</sub>`;
};
const rateLabel = (rate) => (rate === 0 ? 'max' : rate.toLocaleString('en-US'));

function tableRows(rows, protocols) {
  const out = [
    '| protocol | rate (rps) | conns | topology | p50 ms | p90 ms | p99 ms | p99.9 ms | added p50 ms | added p99 ms | achieved rps | proxy CPU s / 1k req (per proxy) | proxy RSS MB idle → load (per proxy) | errors | machine CPUs busy |',
    '| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: |',
  ];
  for (const r of rows) {
    const proto = protocols.find((p) => p.id === r.protocol)?.label ?? r.protocol;
    const head = `| ${proto} | ${rateLabel(r.rate)} | ${r.conns} | ${r.label} |`;
    if (r.status !== 'measured') {
      out.push(`${head} ${r.status} | | | | | | | | | | |`);
      continue;
    }
    const cpu = r.cpuPer1k.length ? r.cpuPer1k.map((s) => f(s?.median, 4)).join(' + ') : '–';
    const rss = r.rssLoadMB.length ? r.rssLoadMB.map((s, i) => `${f(r.rssIdleMB[i], 1)} → ${f(s?.median, 1)}`).join(', ') : '–';
    out.push(
      `${head} ${sp(r.latencyMs.p50)} | ${sp(r.latencyMs.p90)} | ${sp(r.latencyMs.p99)} | ${sp(r.latencyMs.p999)} | ` +
        `${r.topology === 'direct' ? '(floor)' : sp(r.addedMs.p50)} | ${r.topology === 'direct' ? '(floor)' : sp(r.addedMs.p99)} | ` +
        `${sp(r.achievedRps, 0)} | ${cpu} | ${rss} | ${r.errors}${r.failedRuns ? ` (${r.failedRuns} run(s) failed)` : ''} | ${f(r.machineBusyCpus?.median, 2)} |`,
    );
  }
  return out.join('\n');
}

/** The results as markdown: set-up, headline cell, then every cell. */
export function markdown(result, protocols, headline) {
  const rows = result.summary;
  const head = rows.filter((r) => r.rate === headline.rate && r.conns === headline.conns);
  const unavailable = [...new Set(rows.filter((r) => r.status !== 'measured').map((r) => `- ${r.label}, ${r.protocol}: ${r.status}: ${r.reason}`))];
  const m = result.machine;
  return [
    `# Spar data-plane benchmark (${result.profile}, ${result.startedAt.slice(0, 10)})`,
    '',
    `Machine: ${m.cpuModel}, ${m.cpus} CPUs, Linux ${m.kernel}, Node ${m.node}; ${m.envoyVersion}; fortio ${m.fortioVersion}.`,
    `Load average before the run: ${m.loadavgBefore.map((x) => x.toFixed(2)).join(' ')}, after: ${(m.loadavgAfter ?? []).map((x) => x.toFixed(2)).join(' ')} (the benchmark itself accounts for about 1–2; more means other work shared the CPUs).`,
    `Pinning: ${result.settings.pinning}. Envoy runs with --concurrency 1; spar proxy from ${result.settings.sparFrom}${result.settings.pilotFrom ? `, spar pilot from ${result.settings.pilotFrom}` : ''}; checkout at ${result.settings.gitCommit}.`,
    result.settings.configFrom === 'pilot'
      ? 'Proxy config: every proxy (Envoy and spar proxy alike) is configured by `spar pilot` over delta ADS from the same Istio YAML (a Service + EndpointSlice per chain, Sidecar resources with captureMode NONE: egress listener on the client-side sidecar, ingress listener with defaultEndpoint on the server-side one; mesh config enableAutoMtls: false); the YAML is in the JSON results (`istioConfig`).'
      : 'Proxy config: static Envoy bootstraps (bench/dataplane/bootstrap.mjs), the same file for Envoy and spar proxy.',
    `Payload ${result.settings.payloadBytes} B each way; ${result.settings.durationSec} s per run, ${result.settings.repeats} repeat(s), topologies alternated within each cell; upstream: fortio server.`,
    'Figures are medians over the repeats, with min…max in small type; "added" is each repeat\'s difference to the direct run beside it.',
    'CPU is user+system seconds from /proc/<pid>/stat per proxy process, client-side proxy first; RSS from /proc/<pid>/status (idle after start-up and one probe request, peak during the run).',
    '"Machine CPUs busy" is the whole machine\'s busy time during the run (/proc/stat) divided by its length: what client, server and proxies used plus anything else running.',
    '',
    head.length ? `## ${rateLabel(headline.rate)} rps, ${headline.conns} connection(s)${headline.rate === 1000 && headline.conns === 16 ? " (Istio's reference point)" : ''}\n\n${tableRows(head, protocols)}\n` : '',
    '## Every cell',
    '',
    tableRows(rows, protocols),
    '',
    unavailable.length ? `## Not measured, and why\n\n${unavailable.join('\n')}\n` : '',
  ].join('\n');
}

const COLORS = { 'envoy-1': '#7fb3d5', 'envoy-2': '#1f618d', 'spar-1': '#f5b041', 'spar-2': '#b9770e' };

/** A grouped bar chart of the latency each topology adds at the headline cell (p50 solid, p99 hatched). */
export function svgChart(result, protocols, headline) {
  const rows = result.summary.filter((r) => r.rate === headline.rate && r.conns === headline.conns && r.topology !== 'direct');
  const protos = protocols.filter((p) => rows.some((r) => r.protocol === p.id));
  const topos = result.topologies.filter((t) => t.id !== 'direct');
  const W = 820;
  const H = 380;
  const left = 60;
  const top = 40;
  const plotH = 240;
  const groupW = (W - left - 20) / Math.max(protos.length, 1);
  const barW = Math.min(22, (groupW - 20) / Math.max(topos.length * 2, 1));
  const values = rows.flatMap((r) => (r.status === 'measured' ? [r.addedMs.p50?.median ?? 0, r.addedMs.p99?.median ?? 0] : []));
  const maxV = Math.max(0.1, ...values);
  const y = (v) => top + plotH - (Math.max(0, v) / maxV) * plotH;
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    '<defs><pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="4" stroke="#fff" stroke-width="1.5"/></pattern></defs>',
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${left}" y="20" font-size="13" font-weight="bold">${esc(`Latency added over direct, ${rateLabel(headline.rate)} rps, ${headline.conns} connections, 1 KiB (ms; solid p50, hatched p99)`)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (maxV * i) / 4;
    parts.push(`<line x1="${left}" x2="${W - 20}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(2)}</text>`);
  }
  protos.forEach((p, gi) => {
    const gx = left + gi * groupW + 10;
    topos.forEach((t, ti) => {
      const r = rows.find((x) => x.protocol === p.id && x.topology === t.id);
      const x = gx + ti * barW * 2;
      if (!r || r.status !== 'measured') {
        parts.push(`<text x="${x + barW + 3}" y="${top + plotH - 4}" font-size="9" fill="#999" transform="rotate(-90 ${x + barW + 3} ${top + plotH - 4})">${esc(r ? r.status : 'not run')}</text>`);
        return;
      }
      const c = COLORS[t.id] ?? '#888';
      for (const [k, name] of [[0, 'p50'], [1, 'p99']]) {
        const v = r.addedMs[name]?.median ?? 0;
        const bx = x + k * barW;
        parts.push(`<rect x="${bx}" y="${y(v)}" width="${barW - 1}" height="${top + plotH - y(v)}" fill="${c}"><title>${esc(`${t.label} ${p.label} added ${name} ${v.toFixed(3)} ms`)}</title></rect>`);
        if (k === 1) parts.push(`<rect x="${bx}" y="${y(v)}" width="${barW - 1}" height="${top + plotH - y(v)}" fill="url(#hatch)"/>`);
      }
    });
    parts.push(`<text x="${gx + topos.length * barW}" y="${top + plotH + 16}" text-anchor="middle">${esc(p.label)}</text>`);
  });
  topos.forEach((t, i) => {
    const lx = left + (i % 2) * 360;
    const ly = H - 44 + Math.floor(i / 2) * 18;
    parts.push(`<rect x="${lx}" y="${ly}" width="12" height="12" fill="${COLORS[t.id] ?? '#888'}"/><text x="${lx + 16}" y="${ly + 10}">${esc(t.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

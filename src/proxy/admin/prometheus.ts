/**
 * Prometheus text exposition of the stats store (/stats/prometheus): Envoy's stat names with dots
 * turned into underscores and the `envoy_` prefix, plus the labelled families (Istio's metrics).
 * Envoy's tag extraction for cluster names is applied (`envoy_cluster_upstream_rq_total{envoy_cluster_name="x"}`).
 */
import type { Counter, Histogram, StatsStore } from '../stats/stats.js';

function sanitize(s: string): string {
  return s.replace(/[^a-zA-Z0-9_]/g, '_');
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Envoy's default tag extraction for the prefixes Spar emits. */
function extract(name: string): { metric: string; labels: string } {
  const m = /^cluster\.(.+)\.(upstream_[a-z_]+|membership_[a-z_]+)$/.exec(name);
  if (m) return { metric: `envoy_cluster_${m[2]}`, labels: `envoy_cluster_name="${escapeLabel(m[1])}"` };
  const h = /^http\.(.+?)\.(downstream_[a-z0-9_]+|no_route|no_cluster|rq_[a-z_]+)$/.exec(name);
  if (h) return { metric: `envoy_http_${h[2]}`, labels: `envoy_http_conn_manager_prefix="${escapeLabel(h[1])}"` };
  const t = /^tcp\.(.+?)\.([a-z_]+)$/.exec(name);
  if (t) return { metric: `envoy_tcp_${t[2]}`, labels: `envoy_tcp_prefix="${escapeLabel(t[1])}"` };
  return { metric: 'envoy_' + sanitize(name), labels: '' };
}

export function prometheusText(store: StatsStore, filter?: string | null): string {
  const re = filter ? new RegExp(filter) : undefined;
  const groups = new Map<string, { type: string; lines: string[] }>();
  const add = (metric: string, type: string, line: string) => {
    let g = groups.get(metric);
    if (!g) groups.set(metric, (g = { type, lines: [] }));
    g.lines.push(line);
  };
  for (const [n, c] of store.counters) {
    if (re && !re.test(n)) continue;
    const { metric, labels } = extract(n);
    add(metric, 'counter', `${metric}{${labels}} ${c.value}`);
  }
  for (const [n, g] of store.gauges) {
    if (re && !re.test(n)) continue;
    const { metric, labels } = extract(n);
    add(metric, 'gauge', `${metric}{${labels}} ${g.value}`);
  }
  let out = '';
  for (const [metric, g] of [...groups].sort((a, b) => a[0].localeCompare(b[0]))) {
    out += `# TYPE ${metric} ${g.type}\n${g.lines.join('\n')}\n`;
  }
  for (const f of store.families.values()) {
    if (re && !re.test(f.name)) continue;
    out += `# TYPE ${f.name} ${f.type}\n`;
    for (const { labels, metric } of f.series.values()) {
      if (f.type === 'counter') out += `${f.name}{${labels}} ${(metric as Counter).value}\n`;
      else {
        const h = metric as Histogram;
        let cum = 0;
        h.buckets.forEach((b, i) => {
          cum += h.counts[i];
          out += `${f.name}_bucket{${labels},le="${b}"} ${cum}\n`;
        });
        out += `${f.name}_bucket{${labels},le="+Inf"} ${h.count}\n${f.name}_sum{${labels}} ${h.sum}\n${f.name}_count{${labels}} ${h.count}\n`;
      }
    }
  }
  return out;
}

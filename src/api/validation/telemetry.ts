/**
 * Telemetry (telemetry.istio.io): istiod's ValidateTelemetry. Provider references must be named,
 * metric tag overrides must agree with their operation (UPSERT needs a value, REMOVE takes none),
 * custom metric names must not be empty, tracing sampling is a percentage and custom tags are
 * complete, and an access-log filter must be a CEL expression (parsed with @bufbuild/cel, as
 * istiod parses it with cel-go).
 */
import { parse as parseCel } from '@bufbuild/cel';
import type { ConfigResource } from '../../config/resource.js';
import { validatePolicyTargets } from './common.js';
import { validateWorkloadSelector } from './labels.js';
import { at, entries, has, isObj, key, list, num, str, type Report } from './report.js';

export function validateTelemetry(rep: Report, r: ConfigResource): void {
  const spec = r.spec;
  validatePolicyTargets(rep, spec);
  validateWorkloadSelector(rep, 'spec.selector', spec.selector);
  list<unknown>(spec.metrics).forEach((m, i) => {
    if (!isObj(m)) return;
    const p = at('spec.metrics', i);
    validateProviders(rep, at(p, 'providers'), m.providers);
    list<unknown>(m.overrides).forEach((o, j) => {
      const op = at(at(p, 'overrides'), j);
      if (!isObj(o)) return rep.error(op, 'tagOverrides may not be null');
      for (const [tag, to] of entries(o.tagOverrides)) {
        const tp = key(at(op, 'tagOverrides'), tag);
        if (tag === '') rep.warn(tp, 'tagOverrides.name may not be empty');
        if (!isObj(to)) {
          rep.error(tp, 'tagOverrides may not be null');
          continue;
        }
        const operation = str(to.operation) || 'UPSERT';
        if (operation === 'UPSERT' && str(to.value) === '') rep.error(at(tp, 'value'), 'tagOverrides.value must be set when operation is UPSERT');
        if (operation === 'REMOVE' && str(to.value) !== '') rep.error(at(tp, 'value'), 'tagOverrides.value may only be set when operation is UPSERT');
      }
      if (isObj(o.match) && has(o.match.customMetric) && str(o.match.customMetric) === '') {
        rep.error(at(at(op, 'match'), 'customMetric'), 'customMetric may not be empty');
      }
    });
  });
  const tracing = list<unknown>(spec.tracing);
  if (tracing.length > 1) rep.warn('spec.tracing', 'multiple tracing is not currently supported');
  tracing.forEach((t, i) => {
    if (!isObj(t)) return;
    const p = at('spec.tracing', i);
    if (list(t.providers).length > 1) rep.warn(at(p, 'providers'), 'multiple providers is not currently supported');
    validateProviders(rep, at(p, 'providers'), t.providers);
    const pct = num(t.randomSamplingPercentage);
    if (pct < 0 || pct > 100) rep.error(at(p, 'randomSamplingPercentage'), 'randomSamplingPercentage must be in range [0.0, 100.0]');
    for (const [name, tag] of entries(t.customTags)) {
      const tp = key(at(p, 'customTags'), name);
      if (name === '') rep.error(tp, 'tag name may not be empty');
      if (!isObj(tag)) {
        rep.error(tp, `tag '${name}' may not have a nil value`);
        continue;
      }
      if (has(tag.literal) && str(isObj(tag.literal) ? tag.literal.value : '') === '') rep.error(tp, 'literal tag value may not be empty');
      else if (has(tag.header) && str(isObj(tag.header) ? tag.header.name : '') === '') rep.error(tp, 'header tag name may not be empty');
      else if (has(tag.environment) && str(isObj(tag.environment) ? tag.environment.name : '') === '') rep.error(tp, 'environment tag name may not be empty');
    }
  });
  list<unknown>(spec.accessLogging).forEach((l, i) => {
    if (!isObj(l)) return;
    const p = at('spec.accessLogging', i);
    if (isObj(l.filter)) {
      const expr = str(l.filter.expression);
      try {
        parseCel(expr);
      } catch (e) {
        rep.error(at(at(p, 'filter'), 'expression'), `must be a valid CEL expression, ${firstLine((e as Error).message)}`);
      }
    }
    validateProviders(rep, at(p, 'providers'), l.providers);
  });
}

function validateProviders(rep: Report, path: string, providers: unknown): void {
  const i = list<unknown>(providers).findIndex((p) => !isObj(p) || str(p.name) === '');
  if (i >= 0) rep.error(at(at(path, i), 'name'), 'providers.name may not be empty');
}

function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return i < 0 ? s : s.slice(0, i);
}

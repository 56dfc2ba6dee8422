/**
 * Istio annotations on Kubernetes resources (Istio's analyzers/annotations): unknown names in an
 * `*istio.io/` domain (IST0108), annotations on a kind they do not apply to (IST0107) and
 * deprecated ones (IST0135). The table is Istio's annotation catalogue (istio/api
 * annotation/annotations.yaml): name, deprecated, and the kinds each applies to. Values the
 * injector would reject are IST0125 (the checks of pkg/kube/inject/validate.go, with Go's error texts).
 */
import { register } from '../analyzer.js';
import { MSG, message } from '../messages.js';
import { arr, labelsOf, obj, str } from '../values.js';

const POD = ['Pod'];
const DEPRECATED = true;

/** name -> [kinds it applies to ('Any' for all), deprecated]. */
const ANNOTATIONS: Record<string, [string[], boolean?]> = {
  'prometheus.istio.io/merge-metrics': [POD],
  'alpha.istio.io/kubernetes-serviceaccounts': [['Service'], DEPRECATED],
  'alpha.istio.io/canonical-serviceaccounts': [['Service'], DEPRECATED],
  'networking.istio.io/exportTo': [['Service']],
  'sidecar.istio.io/inject': [POD, DEPRECATED],
  'sidecar.istio.io/status': [POD],
  'sidecar.istio.io/rewriteAppHTTPProbers': [POD],
  'sidecar.istio.io/discoveryAddress': [POD, DEPRECATED],
  'sidecar.istio.io/proxyImage': [POD],
  'sidecar.istio.io/proxyImageType': [POD],
  'sidecar.istio.io/proxyCPU': [POD],
  'sidecar.istio.io/proxyCPULimit': [POD],
  'sidecar.istio.io/proxyMemory': [POD],
  'sidecar.istio.io/proxyMemoryLimit': [POD],
  'sidecar.istio.io/interceptionMode': [POD],
  'sidecar.istio.io/bootstrapOverride': [POD],
  'sidecar.istio.io/statsInclusionPrefixes': [POD, DEPRECATED],
  'sidecar.istio.io/statsInclusionSuffixes': [POD, DEPRECATED],
  'sidecar.istio.io/statsInclusionRegexps': [POD, DEPRECATED],
  'sidecar.istio.io/statsHistogramBuckets': [POD],
  'sidecar.istio.io/statsFlushInterval': [POD],
  'sidecar.istio.io/statsEvictionInterval': [POD],
  'sidecar.istio.io/statsHistogramBins': [POD],
  'sidecar.istio.io/userVolume': [POD],
  'sidecar.istio.io/userVolumeMount': [POD],
  'status.sidecar.istio.io/port': [POD],
  'sidecar.istio.io/logLevel': [POD],
  'sidecar.istio.io/componentLogLevel': [POD],
  'sidecar.istio.io/agentLogLevel': [POD],
  'sidecar.istio.io/nativeSidecar': [POD],
  'readiness.status.sidecar.istio.io/initialDelaySeconds': [POD],
  'readiness.status.sidecar.istio.io/periodSeconds': [POD],
  'readiness.status.sidecar.istio.io/failureThreshold': [POD],
  'readiness.status.sidecar.istio.io/applicationPorts': [POD],
  'traffic.istio.io/nodeSelector': [['Service']],
  'traffic.sidecar.istio.io/includeOutboundIPRanges': [POD],
  'traffic.sidecar.istio.io/excludeOutboundIPRanges': [POD],
  'traffic.sidecar.istio.io/includeInboundPorts': [POD],
  'traffic.sidecar.istio.io/excludeInboundPorts': [POD],
  'traffic.sidecar.istio.io/excludeInterfaces': [POD],
  'traffic.sidecar.istio.io/includeOutboundPorts': [POD],
  'traffic.sidecar.istio.io/excludeOutboundPorts': [POD],
  'traffic.sidecar.istio.io/kubevirtInterfaces': [POD, DEPRECATED],
  'kubernetes.io/ingress.class': [['Ingress']],
  'galley.istio.io/analyze-suppress': [['Any']],
  'proxy.istio.io/config': [POD],
  'istio.io/dry-run': [['AuthorizationPolicy']],
  'istio.io/rev': [POD],
  'proxy.istio.io/overrides': [POD],
  'inject.istio.io/templates': [POD],
  'sidecar.istio.io/extraStatTags': [POD, DEPRECATED],
  'istio.io/autoRegistrationGroup': [['WorkloadEntry']],
  'istio.io/workloadController': [['WorkloadEntry']],
  'istio.io/connectedAt': [['WorkloadEntry']],
  'istio.io/disconnectedAt': [['WorkloadEntry']],
  'topology.istio.io/controlPlaneClusters': [['Namespace']],
  'gateway.istio.io/controller-version': [['Any']],
  'ambient.istio.io/redirection': [POD],
  'ambient.istio.io/waypoint-inbound-binding': [['GatewayClass', 'Gateway']],
  'gateway.istio.io/service-account': [['Gateway']],
  'gateway.istio.io/name-override': [['Gateway']],
  'networking.istio.io/service-type': [['Gateway']],
  'networking.istio.io/traffic-distribution': [['Namespace', 'Service', 'ServiceEntry']],
  'istio.io/use-waypoint-canary-weight': [['Service', 'ServiceEntry', 'Namespace']],
  'ambient.istio.io/bypass-inbound-capture': [POD],
  'istio.io/reroute-virtual-interfaces': [POD],
  'ambient.istio.io/dns-capture': [POD],
  'sidecar.istio.io/statsCompression': [POD, DEPRECATED],
};

const goSyntax = (fn: string, v: string, why = 'invalid syntax') => `strconv.${fn}: parsing ${JSON.stringify(v)}: ${why}`;

function uint(v: string, bits: number): string | undefined {
  if (!/^\d+$/.test(v)) return goSyntax('ParseUint', v);
  return BigInt(v) >= 2n ** BigInt(bits) ? goSyntax('ParseUint', v, 'value out of range') : undefined;
}

function portList(param: string, v: string): string | undefined {
  const t = v.trim();
  if (t === '') return undefined;
  for (const p of t.split(',')) {
    const e = uint(p.trim(), 16);
    if (e) return `${param} invalid: failed parsing port '${p}': failed parsing port '${p}': ${e}`;
  }
  return undefined;
}

/** The injector's checks of annotation values: the error text, or undefined when valid. */
const VALUE_CHECKS: Record<string, (v: string) => string | undefined> = {
  'sidecar.istio.io/interceptionMode': (v) => (['REDIRECT', 'TPROXY', 'NONE'].includes(v) ? undefined : `interceptionMode invalid, use REDIRECT,TPROXY,NONE: ${v}`),
  'status.sidecar.istio.io/port': (v) => {
    const e = uint(v.trim(), 16);
    return e ? `excludeInboundPorts invalid: failed parsing port '${v}': ${e}` : undefined;
  },
  'readiness.status.sidecar.istio.io/initialDelaySeconds': (v) => uint(v, 32),
  'readiness.status.sidecar.istio.io/periodSeconds': (v) => uint(v, 32),
  'readiness.status.sidecar.istio.io/failureThreshold': (v) => uint(v, 32),
  'traffic.sidecar.istio.io/includeInboundPorts': (v) => (v === '*' ? undefined : portList('includeInboundPorts', v)),
  'traffic.sidecar.istio.io/excludeInboundPorts': (v) => portList('excludeInboundPorts', v),
  'traffic.sidecar.istio.io/excludeOutboundPorts': (v) => portList('excludeOutboundPorts', v),
  'prometheus.istio.io/merge-metrics': (v) => (['1', 't', 'T', 'TRUE', 'true', 'True', '0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v) ? undefined : goSyntax('ParseBool', v)),
};

/** Set by Istio itself; never worth a message. */
const ALWAYS_IGNORED = new Set(['sidecar.istio.io/status', 'gateway.istio.io/controller-version', 'istio.io/rev']);

function isIstioAnnotation(a: string): boolean {
  if (a === 'kubernetes.io/ingress.class') return true;
  return a.split('/')[0].endsWith('istio.io');
}

register({
  name: 'annotations.K8sAnalyzer',
  description: 'Checks for misplaced and invalid Istio annotations in Kubernetes resources',
  inputs: ['Namespace', 'Service', 'Pod', 'Deployment'],
  emits: [MSG.UnknownAnnotation, MSG.MisplacedAnnotation, MSG.DeprecatedAnnotation, MSG.InvalidAnnotation],
  analyze({ snapshot, report }) {
    for (const kind of ['Namespace', 'Service', 'Pod', 'Deployment']) {
      for (const r of snapshot.of(kind)) {
        if (r.group !== '' && r.group !== 'apps') continue;
        const annos = labelsOf(r.metadata.annotations);
        const labels = labelsOf(r.metadata.labels);
        for (const ann of Object.keys(annos)) {
          if (!isIstioAnnotation(ann) || ALWAYS_IGNORED.has(ann)) continue;
          const path = ['metadata', 'annotations', ann];
          const def = ANNOTATIONS[ann];
          if (!def) {
            report(message(MSG.UnknownAnnotation, r, [ann], path));
            continue;
          }
          const [kinds, deprecated] = def;
          if (deprecated && !(ann === 'sidecar.istio.io/inject' && 'sidecar.istio.io/inject' in labels)) {
            const extra = ann === 'sidecar.istio.io/inject' ? ' in favor of the "sidecar.istio.io/inject" label' : '';
            report(message(MSG.DeprecatedAnnotation, r, [ann, extra], path));
          }
          if (kinds.includes('Any')) continue;
          if (!kinds.includes(kind)) {
            report(message(MSG.MisplacedAnnotation, r, [ann, kinds.join(', ')], path));
            continue;
          }
          const problem = VALUE_CHECKS[ann]?.(annos[ann]);
          if (problem) report(message(MSG.InvalidAnnotation, r, [ann, problem], path));
        }
      }
    }
  },
});

/** Annotations of alpha-phase features (featureStatus Alpha in Istio's catalogue, or none given: Alpha is the default). */
const ALPHA = new Set([
  'sidecar.istio.io/proxyMemoryLimit', 'sidecar.istio.io/userVolumeMount', 'traffic.sidecar.istio.io/includeInboundPorts',
  'prometheus.istio.io/merge-metrics', 'alpha.istio.io/kubernetes-serviceaccounts', 'alpha.istio.io/canonical-serviceaccounts',
  'networking.istio.io/exportTo', 'sidecar.istio.io/status', 'sidecar.istio.io/rewriteAppHTTPProbers', 'sidecar.istio.io/discoveryAddress',
  'sidecar.istio.io/proxyImage', 'sidecar.istio.io/proxyImageType', 'sidecar.istio.io/proxyCPU', 'sidecar.istio.io/proxyCPULimit',
  'sidecar.istio.io/proxyMemory', 'sidecar.istio.io/interceptionMode', 'sidecar.istio.io/bootstrapOverride',
  'sidecar.istio.io/statsInclusionPrefixes', 'sidecar.istio.io/statsInclusionSuffixes', 'sidecar.istio.io/statsInclusionRegexps',
  'sidecar.istio.io/statsHistogramBuckets', 'sidecar.istio.io/statsFlushInterval', 'sidecar.istio.io/statsEvictionInterval',
  'sidecar.istio.io/statsHistogramBins', 'sidecar.istio.io/userVolume', 'status.sidecar.istio.io/port', 'sidecar.istio.io/logLevel',
  'sidecar.istio.io/componentLogLevel', 'sidecar.istio.io/agentLogLevel', 'sidecar.istio.io/nativeSidecar',
  'readiness.status.sidecar.istio.io/initialDelaySeconds', 'readiness.status.sidecar.istio.io/periodSeconds',
  'readiness.status.sidecar.istio.io/failureThreshold', 'readiness.status.sidecar.istio.io/applicationPorts',
  'traffic.sidecar.istio.io/includeOutboundIPRanges', 'traffic.sidecar.istio.io/excludeOutboundIPRanges',
  'traffic.sidecar.istio.io/excludeInboundPorts', 'traffic.sidecar.istio.io/excludeInterfaces', 'traffic.sidecar.istio.io/includeOutboundPorts',
  'traffic.sidecar.istio.io/excludeOutboundPorts', 'traffic.sidecar.istio.io/kubevirtInterfaces', 'galley.istio.io/analyze-suppress',
  'istio.io/dry-run', 'istio.io/rev', 'proxy.istio.io/overrides', 'inject.istio.io/templates', 'sidecar.istio.io/extraStatTags',
  'istio.io/autoRegistrationGroup', 'istio.io/workloadController', 'istio.io/connectedAt', 'istio.io/disconnectedAt',
  'topology.istio.io/controlPlaneClusters', 'gateway.istio.io/controller-version', 'ambient.istio.io/waypoint-inbound-binding',
  'gateway.istio.io/service-account', 'gateway.istio.io/name-override', 'networking.istio.io/service-type',
  'networking.istio.io/traffic-distribution', 'istio.io/use-waypoint-canary-weight', 'ambient.istio.io/bypass-inbound-capture',
  'istio.io/reroute-virtual-interfaces', 'ambient.istio.io/dns-capture', 'sidecar.istio.io/statsCompression',
]);

/** Alpha annotations the injector sets itself on pods when the CNI plugin does the capture (no istio-init). */
const SET_BY_INJECTOR_WITH_CNI = new Set(['sidecar.istio.io/interceptionMode', 'traffic.sidecar.istio.io/includeInboundPorts', 'traffic.sidecar.istio.io/excludeInboundPorts', 'traffic.sidecar.istio.io/includeOutboundIPRanges']);

register({
  name: 'annotations.AlphaAnalyzer',
  description: 'Checks for alpha Istio annotations in Kubernetes resources',
  inputs: ['Namespace', 'Service', 'Pod', 'Deployment'],
  emits: [MSG.AlphaAnnotation],
  optIn: true,
  analyze({ snapshot, report }) {
    for (const kind of ['Namespace', 'Service', 'Pod', 'Deployment']) {
      for (const r of snapshot.of(kind)) {
        if (r.group !== '' && r.group !== 'apps') continue;
        const cni = kind === 'Pod' && !arr(r.spec.initContainers).some((c) => str(obj(c).name) === 'istio-init');
        for (const ann of Object.keys(labelsOf(r.metadata.annotations))) {
          if (!isIstioAnnotation(ann) || !ALPHA.has(ann) || ALWAYS_IGNORED.has(ann)) continue;
          if (cni && SET_BY_INJECTOR_WITH_CNI.has(ann)) continue;
          report(message(MSG.AlphaAnnotation, r, [ann], ['metadata', 'annotations', ann]));
        }
      }
    }
  },
});

/**
 * Structural validation from Istio's own CRD OpenAPI schemas (and their CEL rules), as the
 * Kubernetes API server applies them before istiod ever sees a resource:
 *
 * 1. the kind and version must be served (`no matches for kind "VirtualService" in version
 *    "networking.istio.io/v2"`, as kubectl says), and `metadata` must be valid (metadata.ts);
 * 2. pruning: undeclared fields are errors, `unknown field "spec.foo"`, as with kubectl's default
 *    strict field validation (structural.ts); `status` is dropped, as the status subresource does;
 * 3. OpenAPI v3 (types, enums, patterns, bounds, required, oneOf) with Ajv (openapi.ts), and
 *    `x-kubernetes-list-type` uniqueness (structural.ts);
 * 4. the `x-kubernetes-validations` CEL rules (cel.ts), unless step 3 found a type, enum,
 *    required or size error — the API server then skips CEL too, and says so.
 *
 * Kubernetes' own kinds and kinds from other groups are handled in builtin.ts. The CRD bundle is
 * read on first use and a kind's schema is compiled the first time that kind is met.
 */
import type { Diagnostic } from '../diagnostics.js';
import type { ConfigResource } from '../../config/resource.js';
import { BUILTIN_GROUPS } from './builtin.js';
import { celErrors } from './cel.js';
import { bundleError, crdsNamed, findCrd, isCrdGroup, kindsOf, type Crd } from './crds.js';
import { isBlocking, toDiagnostic, type FieldError } from './field-error.js';
import { objectMetaErrors } from './metadata.js';
import { compileSchema, openApiErrors } from './openapi.js';
import { checkListTypes, prune } from './structural.js';

/** Errors the API server would give for this resource's structure. Never throws. */
export function schemaValidate(r: ConfigResource): Diagnostic[] {
  try {
    if (isCrdGroup(r.group)) return validateCustomResource(r);
    if (bundleError() && r.group.endsWith('istio.io')) return [{ level: 'Error', message: bundleError() ?? '' }];
    return validateOther(r);
  } catch (e) {
    return [{ level: 'Error', message: `internal error in schema validation (please report it): ${(e as Error).message}` }];
  }
}

function validateCustomResource(r: ConfigResource): Diagnostic[] {
  const crd = findCrd(r.group, r.kind);
  if (!crd) return [noKind(r)];
  const version = crd.versions.find((v) => v.name === r.version && v.served);
  if (!version) return [noVersion(r, crd)];
  const root = version.schema();
  if (!root) return [{ level: 'Error', message: `cannot read the schema of ${r.apiVersion} ${r.kind} from Istio's CRD bundle` }];
  const errors: FieldError[] = objectMetaErrors(r.raw.metadata, { nameRule: 'subdomain', namespaced: crd.namespaced });
  const pruned: Record<string, unknown> = { apiVersion: r.raw.apiVersion, kind: r.raw.kind, metadata: r.raw.metadata ?? {} };
  for (const [k, v] of Object.entries(r.raw)) {
    if (k === 'apiVersion' || k === 'kind' || k === 'metadata' || k === 'status') continue;
    const prop = root.properties?.[k];
    if (prop) pruned[k] = prune(v, prop, k, errors);
    else errors.push({ type: 'UnknownField', path: k });
  }
  const schemaErrors = openApiErrors(compileSchema(root), pruned);
  errors.push(...schemaErrors);
  for (const [k, v] of Object.entries(pruned)) {
    const prop = root.properties?.[k];
    if (prop && k !== 'metadata') checkListTypes(v, prop, k, errors);
  }
  const out = errors.map(toDiagnostic);
  if (schemaErrors.some(isBlocking)) {
    out.push({ level: 'Info', message: 'some validation rules were not checked because the object was invalid; correct the existing errors to complete validation' });
  } else {
    for (const [k, v] of Object.entries(pruned)) {
      const prop = root.properties?.[k];
      if (prop && k !== 'metadata') out.push(...celErrors(v, prop, k).map(toDiagnostic));
    }
  }
  if (version.deprecated) {
    const current = crd.versions.filter((v) => v.served && !v.deprecated).map((v) => `${crd.group}/${v.name}`);
    out.push({ level: 'Warning', message: `${r.apiVersion} ${r.kind} is deprecated${current.length ? `; use ${current.join(' or ')}` : ''}`, path: 'apiVersion' });
  }
  return out;
}

function servedVersions(crd: Crd): string[] {
  return crd.versions.filter((v) => v.served).map((v) => `${crd.group}/${v.name}`);
}

/** kubectl's `no matches for kind` for a kind the group does not define. */
function noKind(r: ConfigResource): Diagnostic {
  const similar = crdsNamed(r.kind).filter((c) => c.group !== r.group || c.kind !== r.kind);
  let hint: string;
  if (similar.length > 0) {
    hint = `did you mean ${similar.map((c) => `kind: ${c.kind} (apiVersion: ${c.group}/${firstServed(c.group, c.kind)})`).join(' or ')}?`;
  } else {
    hint = `${r.group} defines ${kindsOf(r.group).join(', ')}`;
  }
  return { level: 'Error', message: `no matches for kind ${JSON.stringify(r.kind)} in version ${JSON.stringify(r.apiVersion)}: ${hint}`, path: 'kind' };
}

function firstServed(group: string, kind: string): string {
  return findCrd(group, kind)?.versions.find((v) => v.served)?.name ?? 'v1';
}

function noVersion(r: ConfigResource, crd: Crd): Diagnostic {
  return {
    level: 'Error',
    message: `no matches for kind ${JSON.stringify(r.kind)} in version ${JSON.stringify(r.apiVersion)}: ${crd.kind} is served as ${servedVersions(crd).join(', ')}`,
    path: 'apiVersion',
  };
}

/** Kubernetes' own kinds (light checks) and kinds of unknown groups (metadata only, plus an Info). */
function validateOther(r: ConfigResource): Diagnostic[] {
  const group = BUILTIN_GROUPS[r.group];
  const kind = group?.kinds[r.kind];
  if (group && kind) {
    if (!kind.versions.includes(r.version)) {
      const served = kind.versions.map((v) => (r.group ? `${r.group}/${v}` : v)).join(', ');
      return [{ level: 'Error', message: `no matches for kind ${JSON.stringify(r.kind)} in version ${JSON.stringify(r.apiVersion)}: ${r.kind} is served as ${served}`, path: 'apiVersion' }];
    }
    const errors = objectMetaErrors(r.raw.metadata, { nameRule: kind.nameRule, namespaced: kind.namespaced });
    if (kind.check) errors.push(...kind.check(r.raw));
    return errors.map(toDiagnostic);
  }
  if (group?.complete) {
    const known = Object.keys(group.kinds).filter((k) => k.toLowerCase() === r.kind.toLowerCase());
    const istio = crdsNamed(r.kind);
    const hint = known.length > 0
      ? `: did you mean kind: ${known[0]}?`
      : istio.length > 0
        ? `: did you mean apiVersion: ${istio[0]!.group}/${firstServed(istio[0]!.group, istio[0]!.kind)}, kind: ${istio[0]!.kind}?`
        : '';
    return [{ level: 'Error', message: `no matches for kind ${JSON.stringify(r.kind)} in version ${JSON.stringify(r.apiVersion)}${hint}`, path: 'kind' }];
  }
  const out = objectMetaErrors(r.raw.metadata, { nameRule: 'subdomain', namespaced: true }).map(toDiagnostic);
  out.push({ level: 'Info', message: `Spar has no schema for ${r.apiVersion} ${r.kind}: only its metadata was checked` });
  return out;
}

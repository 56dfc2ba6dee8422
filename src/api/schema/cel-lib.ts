/**
 * The Kubernetes CEL libraries (k8s.io/apiserver/pkg/cel/library) that Istio's CRD rules call,
 * as functions for `@bufbuild/cel`:
 *
 * - URLs: `url(string)`, `isURL(string)` and the URL methods `getScheme`, `getHost`,
 *   `getHostname`, `getPort`, `getEscapedPath`, `getQuery` — with Go's `net/url` acceptance rules
 *   (go-url.ts), since that is what the rules were written against;
 * - the cel-go strings extension (`substring`, `lowerAscii`, `split`, `indexOf` ...), which
 *   `@bufbuild/cel/ext` ships;
 * - `int(string)` with cel-go's error text ("type conversion error from 'string' to 'int'"),
 *   which Istio's own validation tests match on;
 * - `duration(string)` with Go's `time.ParseDuration` rules and texts (go-duration.ts);
 * - the IP and CIDR libraries (cel-net.ts).
 *
 * `matches()` (RE2), `size()`, `has()`, the macros and the rest of the standard
 * library come with `@bufbuild/cel`. A URL value is a CEL map holding its parts under keys the
 * methods read; CEL has no way to declare an opaque type without a protobuf descriptor, and no
 * Istio rule compares URL values, so the map form is never observable.
 */
import { celFunc, celMethod, CelScalar, mapType, listType, objectType, type CelFunc, type CelMap } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { create } from '@bufbuild/protobuf';
import { DurationSchema } from '@bufbuild/protobuf/wkt';
import { netCelFunctions } from './cel-net.js';
import { goParseDuration } from '../go-duration.js';
import { goParseRequestURI, goParseURL, hostname, port, type GoURL } from './go-url.js';

const URL_TYPE = mapType(CelScalar.STRING, CelScalar.DYN);
const URL_MARK = '@k8s.url';

function toUrl(s: string): Map<string, unknown> {
  // Like the API server: ParseRequestURI decides acceptance, Parse (which splits off a fragment)
  // gives the parts.
  const req = goParseRequestURI(s);
  if (!req.ok) throw new Error(`URL parse error during conversion from string: ${req.error}`);
  const full = goParseURL(s);
  if (!full.ok) throw new Error(`URL parse error during conversion from string: ${full.error}`);
  const u = full.url;
  return new Map<string, unknown>([
    [URL_MARK, true],
    ['scheme', u.scheme],
    ['host', u.host],
    ['hostname', hostname(u)],
    ['port', port(u)],
    ['escapedPath', u.rawPath || u.path],
    ['query', queryMap(u)],
  ]);
}

function queryMap(u: GoURL): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (!u.rawQuery) return out;
  for (const part of u.rawQuery.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const [k, v] = eq < 0 ? [part, ''] : [part.slice(0, eq), part.slice(eq + 1)];
    const key = safeDecode(k);
    out.set(key, [...(out.get(key) ?? []), safeDecode(v)]);
  }
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

function urlPart(m: CelMap, key: string): string {
  if (m.get(URL_MARK) !== true) throw new Error(`no such overload: get${key[0]!.toUpperCase()}${key.slice(1)} on a map`);
  const v = m.get(key);
  return typeof v === 'string' ? v : '';
}

function cast(x: Map<string, unknown>): CelMap {
  return x as unknown as CelMap;
}

const url: CelFunc[] = [
  celFunc('url', [CelScalar.STRING], URL_TYPE, (s) => cast(toUrl(s))),
  celFunc('isURL', [CelScalar.STRING], CelScalar.BOOL, (s) => goParseRequestURI(s).ok),
  celMethod('getScheme', URL_TYPE, [], CelScalar.STRING, function () { return urlPart(this, 'scheme'); }),
  celMethod('getHost', URL_TYPE, [], CelScalar.STRING, function () { return urlPart(this, 'host'); }),
  celMethod('getHostname', URL_TYPE, [], CelScalar.STRING, function () { return urlPart(this, 'hostname'); }),
  celMethod('getPort', URL_TYPE, [], CelScalar.STRING, function () { return urlPart(this, 'port'); }),
  celMethod('getEscapedPath', URL_TYPE, [], CelScalar.STRING, function () { return urlPart(this, 'escapedPath'); }),
  celMethod('getQuery', URL_TYPE, [], mapType(CelScalar.STRING, listType(CelScalar.STRING)), function () {
    urlPart(this, 'scheme');
    return this.get('query') as CelMap;
  }),
];

/** cel-go's `int(string)`: base-10 only, and its error text. */
const intFromString = celFunc('int', [CelScalar.STRING], CelScalar.INT, (s) => {
  if (!/^[-+]?[0-9]+$/.test(s)) throw new Error("type conversion error from 'string' to 'int'");
  const n = BigInt(s);
  if (n > 9223372036854775807n || n < -9223372036854775808n) throw new Error('integer overflow');
  return n;
});

/** cel-go's `duration(string)`: Go's `time.ParseDuration` (go-duration.ts), not protobuf's JSON form. */
const durationFromString = celFunc('duration', [CelScalar.STRING], objectType(DurationSchema), (s) => {
  const d = goParseDuration(s);
  if ('error' in d) throw new Error(d.error);
  return create(DurationSchema, { seconds: d.nanos / 1_000_000_000n, nanos: Number(d.nanos % 1_000_000_000n) });
});

/** Every function Spar adds to the standard CEL environment for CRD rules. */
export const kubernetesCelFunctions: CelFunc[] = [...strings, ...url, ...netCelFunctions, intFromString, durationFromString];

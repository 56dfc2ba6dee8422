/**
 * productpage's calls to details, reviews and ratings, with Istio's exact client behaviour
 * (productpage.py): every call times out after 3 s without data; the reviews call is made up to
 * twice ("Bug introduced explicitly for illustration in fault injection task"), so a reviews
 * outage costs about 6 s — which is why, in the fault-injection task, a 7 s ratings delay behind
 * reviews v2 (whose own ratings timeout is 10 s) shows "Sorry, product reviews are currently
 * unavailable for this book." after about 6 s. A failed call yields the last status (500 when
 * there was no response) and the error texts below. Each outcome counts in `request_result`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { httpGet } from '../common/outbound.js';
import { b3Forward, PRODUCTPAGE_FORWARDED, pickHeaders } from '../common/propagation.js';
import { sessionOf } from './session.js';

/** productpage's per-call timeout (Python requests `timeout=3.0`). */
export const CALL_TIMEOUT_MS = 3000;
/** Attempts of the reviews call. */
export const REVIEWS_ATTEMPTS = 2;

export const DETAILS_ERROR = 'Sorry, product details are currently unavailable for this book.';
export const REVIEWS_ERROR = 'Sorry, product reviews are currently unavailable for this book.';
export const RATINGS_ERROR = 'Sorry, product ratings are currently unavailable for this book.';

export interface Backend {
  name: string;
  endpoint: string;
  children: Backend[];
}

function env(name: string, fallback: string): string {
  const v = process.env[name];
  return v === undefined ? fallback : v;
}

const servicesDomain = process.env.SERVICES_DOMAIN === undefined ? '' : `.${process.env.SERVICES_DOMAIN}`;

/** http://<$X_HOSTNAME or the service name><.$SERVICES_DOMAIN>:<$X_SERVICE_PORT or 9080>, as productpage.py builds it. */
function serviceBase(hostEnv: string, fallback: string, portEnv: string): string {
  return `http://${env(hostEnv, fallback)}${servicesDomain}:${env(portEnv, '9080')}`;
}

export const details: Backend = { name: serviceBase('DETAILS_HOSTNAME', 'details', 'DETAILS_SERVICE_PORT'), endpoint: 'details', children: [] };
export const ratings: Backend = { name: serviceBase('RATINGS_HOSTNAME', 'ratings', 'RATINGS_SERVICE_PORT'), endpoint: 'ratings', children: [] };
export const reviews: Backend = { name: serviceBase('REVIEWS_HOSTNAME', 'reviews', 'REVIEWS_SERVICE_PORT'), endpoint: 'reviews', children: [ratings] };

/** The service graph shown on the index page (productpage.py's `productpage` dict, quirks included). */
export const productpageGraph: Backend = { name: details.name, endpoint: 'details', children: [details, reviews] };

/** FLOOD_FACTOR extra reviews calls per page view (the rate-limiting demo image sets 100). */
export const floodFactor = Number.parseInt(env('FLOOD_FACTOR', '0'), 10) || 0;

/** Outcome counts by destination_app and response_code, exported as Prometheus `request_result_total`. */
export const requestResults = new Map<string, number>();

function count(app: string, code: number): void {
  const key = `${app}\0${code}`;
  requestResults.set(key, (requestResults.get(key) ?? 0) + 1);
}

/** productpage's getForwardHeaders: b3 re-encoded, `end-user` from the session, the listed headers copied. */
export function forwardHeaders(incoming: IncomingHttpHeaders): Record<string, string> {
  const headers: Record<string, string> = { ...b3Forward(incoming) };
  const user = sessionOf(incoming).user;
  if (user) headers['end-user'] = user;
  Object.assign(headers, pickHeaders(incoming, PRODUCTPAGE_FORWARDED));
  return headers;
}

export interface CallResult {
  status: number;
  body: unknown;
}

/** One GET; `ok` when 200 with a JSON body, else the status (500 without a response). */
async function call(url: string, headers: Record<string, string>): Promise<{ ok: true; body: unknown } | { ok: false; status: number }> {
  try {
    const res = await httpGet(url, headers, CALL_TIMEOUT_MS);
    if (res.status === 200) {
      try {
        return { ok: true, body: JSON.parse(res.body) as unknown };
      } catch {
        return { ok: false, status: 500 };
      }
    }
    return { ok: false, status: res.status || 500 };
  } catch {
    return { ok: false, status: 500 };
  }
}

export async function getProductDetails(productId: string | number, headers: Record<string, string>): Promise<CallResult> {
  const r = await call(`${details.name}/${details.endpoint}/${productId}`, headers);
  if (r.ok) {
    count('details', 200);
    return { status: 200, body: r.body };
  }
  count('details', r.status);
  return { status: r.status, body: { error: DETAILS_ERROR } };
}

export async function getProductReviews(productId: string | number, headers: Record<string, string>): Promise<CallResult> {
  let status = 500;
  for (let attempt = 0; attempt < REVIEWS_ATTEMPTS; attempt++) {
    const r = await call(`${reviews.name}/${reviews.endpoint}/${productId}`, headers);
    if (r.ok) {
      count('reviews', 200);
      return { status: 200, body: r.body };
    }
    status = r.status;
  }
  count('reviews', status);
  return { status, body: { error: REVIEWS_ERROR } };
}

export async function getProductRatings(productId: string | number, headers: Record<string, string>): Promise<CallResult> {
  const r = await call(`${ratings.name}/${ratings.endpoint}/${productId}`, headers);
  if (r.ok) {
    count('ratings', 200);
    return { status: 200, body: r.body };
  }
  count('ratings', r.status);
  return { status: r.status, body: { error: RATINGS_ERROR } };
}

/** The extra reviews calls of the flooding image; their answers are ignored. */
export async function floodReviews(productId: string | number, headers: Record<string, string>): Promise<void> {
  await Promise.all(Array.from({ length: floodFactor }, () => getProductReviews(productId, headers)));
}

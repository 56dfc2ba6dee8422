/**
 * Bookinfo `reviews`: two reviews of the book, with star ratings from `ratings` in v2 and v3, as
 * Istio's reviews image serves them (samples/bookinfo/src/reviews/.../LibertyRestEndpoint.java;
 * the image variants only differ in the env their Dockerfile bakes in):
 *   v1  SERVICE_VERSION=v1 ENABLE_RATINGS=false                 no ratings call, no stars
 *   v2  SERVICE_VERSION=v2 ENABLE_RATINGS=true                  black stars, ratings timeout 10 s
 *   v3  SERVICE_VERSION=v3 ENABLE_RATINGS=true STAR_COLOR=red   red stars, ratings timeout 2.5 s
 * The ratings timeout follows the colour exactly as the Java does (`black` → 10 s, any other → 2.5 s).
 * Ratings are found at http://$RATINGS_HOSTNAME[.$SERVICES_DOMAIN]:$RATINGS_SERVICE_PORT/ratings/<id>
 * (defaults ratings, 9080); Istio's tracing and session headers, `end-user` included, are forwarded.
 * `podname` is $HOSTNAME (the pod name in Kubernetes); `clustername` is $CLUSTER_NAME or "null".
 * The server listens on 9080 (Liberty's server.xml); `--port`/a positional port override it for tests.
 */
import { hostname } from 'node:os';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { httpGet } from '../common/outbound.js';
import { BACKEND_FORWARDED, pickHeaders } from '../common/propagation.js';
import { runMain, send, startHttpSample } from '../common/server.js';

const JSON_TYPE = 'application/json';

const ratingsEnabled = (process.env.ENABLE_RATINGS ?? '').toLowerCase() === 'true';
const starColor = process.env.STAR_COLOR ?? 'black';
const servicesDomain = process.env.SERVICES_DOMAIN === undefined ? '' : `.${process.env.SERVICES_DOMAIN}`;
const ratingsService = `http://${process.env.RATINGS_HOSTNAME ?? 'ratings'}${servicesDomain}:${process.env.RATINGS_SERVICE_PORT ?? '9080'}/ratings`;
const podName = process.env.HOSTNAME ?? hostname();
const clusterName = process.env.CLUSTER_NAME ?? 'null';
/** Connect and receive timeout of the ratings call. */
const ratingsTimeoutMs = starColor === 'black' ? 10_000 : 2_500;

const REVIEW_1 = 'An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!';
const REVIEW_2 = 'Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.';

/** The rating fragment of one review: stars, or the error when ratings gave none (-1). */
function ratingJson(stars: number): string {
  if (!ratingsEnabled) return '';
  if (stars !== -1) return `, "rating": {"stars": ${stars}, "color": ${JSON.stringify(starColor)}}`;
  return ', "rating": {"error": "Ratings service is currently unavailable"}';
}

/** The response body, laid out as the Java endpoint concatenates it. */
function reviewsJson(productId: string, stars1: number, stars2: number): string {
  return (
    `{"id": ${JSON.stringify(productId)},"podname": ${JSON.stringify(podName)},"clustername": ${JSON.stringify(clusterName)},"reviews": [` +
    `{  "reviewer": "Reviewer1",  "text": ${JSON.stringify(REVIEW_1)}${ratingJson(stars1)}},` +
    `{  "reviewer": "Reviewer2",  "text": ${JSON.stringify(REVIEW_2)}${ratingJson(stars2)}}` +
    ']}'
  );
}

/** Stars per reviewer from ratings, -1 where ratings failed or left the reviewer out. */
async function fetchStars(productId: string, req: IncomingMessage): Promise<[number, number]> {
  const url = `${ratingsService}/${productId}`;
  try {
    const res = await httpGet(url, { accept: JSON_TYPE, ...pickHeaders(req.headers, BACKEND_FORWARDED) }, ratingsTimeoutMs);
    if (res.status !== 200) {
      process.stdout.write(`Error: unable to contact ${ratingsService} got status of ${res.status}\n`);
      return [-1, -1];
    }
    const body = JSON.parse(res.body) as { ratings?: Record<string, unknown> };
    const star = (name: string): number => {
      const v = body.ratings?.[name];
      return typeof v === 'number' ? Math.trunc(v) : -1;
    };
    return [star('Reviewer1'), star('Reviewer2')];
  } catch (err) {
    process.stderr.write(`Error: unable to contact ${ratingsService} got exception ${err instanceof Error ? err.message : String(err)}\n`);
    return [-1, -1];
  }
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!;
  if (req.method === 'GET' && path === '/health') {
    send(res, 200, JSON_TYPE, '{"status": "Reviews is healthy"}');
    return;
  }
  const m = /^\/reviews\/([+-]?\d+)\/?$/.exec(path);
  if (req.method !== 'GET' || !m || !Number.isSafeInteger(Number(m[1]))) {
    send(res, 404, 'text/html;charset=ISO-8859-1', `Error 404: java.io.FileNotFoundException: SRVE0190E: File not found: ${path}`);
    return;
  }
  const productId = String(Number(m[1]));
  const [s1, s2] = ratingsEnabled ? await fetchStars(productId, req) : [-1, -1];
  send(res, 200, JSON_TYPE, reviewsJson(productId, s1, s2));
}

runMain(() =>
  startHttpSample({
    name: `reviews-${process.env.SERVICE_VERSION ?? 'v1'}`,
    defaultPort: 9080,
    handler: (req, res) => void handle(req, res),
  }),
);

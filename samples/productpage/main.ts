/**
 * Bookinfo `productpage`: the web page of the Bookinfo sample, as Istio's productpage image serves
 * it (samples/bookinfo/src/productpage/productpage.py + templates). `node main.js 9080`.
 *   GET  /, /index.html                    the service graph and links
 *   GET  /productpage                      the book page: details + reviews (see page.ts, backends.ts)
 *   POST /login  (form username=…)         signs in: session cookie, then `end-user: <user>` on every call
 *   GET  /logout                           signs out; both redirect back to the Referer
 *   GET  /api/v1/products[/<id>[/reviews|/ratings]]   the JSON API
 *   GET  /health                           "Product page is healthy"
 *   GET  /metrics                          request_result_total{destination_app,response_code}
 *   GET  /static/...                       stubs for the stylesheet and avatar the page links
 * Backends: $DETAILS_HOSTNAME, $REVIEWS_HOSTNAME, $RATINGS_HOSTNAME (default the service names),
 * each + .$SERVICES_DOMAIN when set, ports $<X>_SERVICE_PORT (default 9080); FLOOD_FACTOR.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, runMain, send, startHttpSample } from '../common/server.js';
import {
  floodFactor,
  floodReviews,
  forwardHeaders,
  getProductDetails,
  getProductRatings,
  getProductReviews,
  productpageGraph,
  requestResults,
} from './backends.js';
import { json2html, renderIndexPage, renderProductPage, type DetailsBody, type Product, type ReviewsBody } from './page.js';
import { pyJsonDumps } from './pyjson.js';
import { clearSessionCookie, sessionOf, setSessionCookie } from './session.js';

const HTML = 'text/html; charset=utf-8';
const JSON_TYPE = 'application/json';

const PRODUCTS: Product[] = [
  {
    id: 0,
    title: 'The Comedy of Errors',
    descriptionHtml:
      '<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Wikipedia Summary</a>: The Comedy of Errors is one of <b>William Shakespeare\'s</b> early plays. It is his shortest and one of his most farcical comedies, with a major part of the humour coming from slapstick and mistaken identity, in addition to puns and word play.',
  },
];

/** 1x1 transparent PNG for /static/img/izzy.png. */
const PIXEL_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

const NOT_FOUND_HTML =
  '<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n';
const METHOD_NOT_ALLOWED_HTML =
  '<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n<p>The method is not allowed for the requested URL.</p>\n';

function redirectHtml(location: string): string {
  const l = location.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;');
  return `<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n<p>You should be redirected automatically to the target URL: <a href="${l}">${l}</a>. If not, click the link.\n`;
}

/** Flask's redirect(request.referrer); without a Referer, back to /productpage. */
function redirectBack(req: IncomingMessage, res: ServerResponse, cookie: string): void {
  const location = typeof req.headers.referer === 'string' && req.headers.referer !== '' ? req.headers.referer : '/productpage';
  send(res, 302, HTML, redirectHtml(location), { location, 'set-cookie': cookie, vary: 'Cookie' });
}

async function productPage(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const productId = 0;
  const headers = forwardHeaders(req.headers);
  const user = sessionOf(req.headers).user ?? '';
  const details = await getProductDetails(productId, headers);
  if (floodFactor > 0) await floodReviews(productId, headers);
  const reviews = await getProductReviews(productId, headers);
  send(
    res,
    200,
    HTML,
    renderProductPage({
      product: PRODUCTS[productId] ?? null,
      detailsStatus: details.status,
      details: (details.body ?? {}) as DetailsBody,
      reviewsStatus: reviews.status,
      reviews: (reviews.body ?? {}) as ReviewsBody,
      user,
    }),
  );
}

async function login(req: IncomingMessage, res: ServerResponse): Promise<void> {
  // request.values: the query string, then the form body.
  const url = new URL(req.url ?? '/', 'http://productpage');
  const values = new URLSearchParams(url.search);
  const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const body = (await readBody(req)).toString('utf8');
  if (type === 'application/x-www-form-urlencoded') for (const [k, v] of new URLSearchParams(body)) values.append(k, v);
  const user = values.get('username');
  process.stdout.write(`login: ${user ?? '(no username)'}\n`);
  redirectBack(req, res, user ? setSessionCookie({ user }) : clearSessionCookie());
}

function metrics(res: ServerResponse): void {
  const lines = ['# HELP request_result_total Results of requests', '# TYPE request_result_total counter'];
  for (const [key, n] of requestResults) {
    const [app, code] = key.split('\0');
    lines.push(`request_result_total{destination_app="${app}",response_code="${code}"} ${n.toFixed(1)}`);
  }
  send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', lines.join('\n') + '\n');
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const rawPath = (req.url ?? '/').split('?')[0]!;
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    path = rawPath; // malformed %-escapes: match the raw path (and 404)
  }
  const method = req.method ?? 'GET';
  const isGet = method === 'GET' || method === 'HEAD';
  process.stdout.write(`${method} ${req.url}\n`);

  if (path === '/login') {
    if (method !== 'POST') return send(res, 405, HTML, METHOD_NOT_ALLOWED_HTML, { allow: 'POST, OPTIONS' });
    return login(req, res);
  }
  const api = /^\/api\/v1\/products(?:\/([^/]+)(?:\/(reviews|ratings))?)?$/.exec(path);
  const known = api !== null || ['/', '/index.html', '/health', '/logout', '/productpage', '/metrics'].includes(path) || path.startsWith('/static/');
  if (!known) return send(res, 404, HTML, NOT_FOUND_HTML);
  if (!isGet) return send(res, 405, HTML, METHOD_NOT_ALLOWED_HTML, { allow: 'GET, HEAD, OPTIONS' });

  if (path === '/' || path === '/index.html') {
    const table = json2html(productpageGraph, 'class="table table-condensed table-bordered table-hover"');
    return send(res, 200, HTML, renderIndexPage(table));
  }
  if (path === '/health') return send(res, 200, HTML, 'Product page is healthy');
  if (path === '/logout') return redirectBack(req, res, clearSessionCookie());
  if (path === '/productpage') return productPage(req, res);
  if (path === '/metrics') return metrics(res);
  if (path.startsWith('/static/')) {
    if (path === '/static/img/izzy.png') return send(res, 200, 'image/png', PIXEL_PNG);
    if (path.endsWith('.css')) return send(res, 200, 'text/css; charset=utf-8', '/* Spar sample: stylesheet stub */\n');
    if (path.endsWith('.js')) return send(res, 200, 'text/javascript; charset=utf-8', '// Spar sample: script stub\n');
    return send(res, 404, HTML, NOT_FOUND_HTML);
  }
  if (api) {
    const [, id, sub] = api;
    if (id === undefined) return send(res, 200, JSON_TYPE, pyJsonDumps(PRODUCTS));
    const headers = forwardHeaders(req.headers);
    const r = sub === 'reviews' ? await getProductReviews(id, headers) : sub === 'ratings' ? await getProductRatings(id, headers) : await getProductDetails(id, headers);
    return send(res, r.status, JSON_TYPE, pyJsonDumps(r.body));
  }
}

runMain(() =>
  startHttpSample({
    name: 'productpage',
    defaultPort: 9080,
    handler: (req, res) => {
      handle(req, res).catch((err: unknown) => {
        process.stdout.write(`error: ${err instanceof Error ? err.stack : String(err)}\n`);
        if (!res.headersSent) send(res, 500, HTML, '<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>\n');
        else res.destroy();
      });
    },
  }),
);

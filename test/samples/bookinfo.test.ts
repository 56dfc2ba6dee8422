/**
 * Bookinfo end to end on loopback: ratings, details, reviews v1/v2/v3 and one productpage per
 * reviews version, pointed at each other through Istio's env overrides (DETAILS_HOSTNAME,
 * RATINGS_SERVICE_PORT …). Checks what users and Istio's tasks look at: the rendered page per
 * version (no stars / black / red), the sign-in flow and the `end-user` header it adds, the error
 * texts when a service is down, and which tracing headers reach ratings.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { closedPort, count, http, startSample, startStub, stopAll, type RunningSample, type Stub } from './helpers.js';

const loopback = (name: string, port: number): Record<string, string> => ({ [`${name}_HOSTNAME`]: '127.0.0.1', [`${name}_SERVICE_PORT`]: String(port) });
const REVIEWS_ENV = {
  v1: { SERVICE_VERSION: 'v1', ENABLE_RATINGS: 'false', STAR_COLOR: 'black' },
  v2: { SERVICE_VERSION: 'v2', ENABLE_RATINGS: 'true', STAR_COLOR: 'black' },
  v3: { SERVICE_VERSION: 'v3', ENABLE_RATINGS: 'true', STAR_COLOR: 'red' },
} as const;
type Version = keyof typeof REVIEWS_ENV;

function startReviews(version: Version, ratingsPort: number, hostname = `reviews-${version}-test`): Promise<RunningSample> {
  return startSample('reviews', { env: { ...REVIEWS_ENV[version], ...loopback('RATINGS', ratingsPort), HOSTNAME: hostname } });
}

function startProductpage(detailsPort: number, reviewsPort: number, ratingsPort: number): Promise<RunningSample> {
  return startSample('productpage', { env: { ...loopback('DETAILS', detailsPort), ...loopback('REVIEWS', reviewsPort), ...loopback('RATINGS', ratingsPort) } });
}

describe('Bookinfo on loopback', () => {
  let ratings: RunningSample;
  let details: RunningSample;
  const reviews = {} as Record<Version, RunningSample>;
  const page = {} as Record<Version, RunningSample>;
  /** Ratings stand-ins: one that records what reaches it, one that fails with 500. */
  let recorder: Stub;
  let failing: Stub;
  let unavailable: Stub;
  let dead: number;
  /** Productpages for the scenarios: signed-in user (also propagation), ratings failing (v2: 500, v3: refused), details refused + reviews 503. */
  const pp = {} as Record<'login' | 'noRatingsV2' | 'noRatingsV3' | 'backendsDown' | 'propagation', RunningSample>;
  let reviewsFailingRatings: RunningSample;

  // Every process starts in three parallel waves (backends, reviews, productpages): start-up, not
  // the checks, is what costs time here.
  before(async () => {
    const rec = (stars: string) => (_req: unknown, res: import('node:http').ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"id": 0, "ratings": ${stars}}`);
    };
    [ratings, details, recorder, failing, unavailable, dead] = await Promise.all([
      startSample('ratings'),
      startSample('details'),
      startStub(rec('{"Reviewer1": 3, "Reviewer2": 1}')),
      startStub((_req, res) => {
        res.writeHead(500);
        res.end('fault filter abort');
      }),
      startStub((_req, res) => {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('no healthy upstream');
      }),
      closedPort(),
    ]);
    const [v1, v2, v3, loginReviews, deadV3, failingV2] = await Promise.all([
      startReviews('v1', ratings.port),
      startReviews('v2', ratings.port),
      startReviews('v3', ratings.port),
      startReviews('v2', recorder.port),
      startReviews('v3', dead),
      startReviews('v2', failing.port),
    ]);
    Object.assign(reviews, { v1, v2, v3 });
    reviewsFailingRatings = failingV2;
    const pages = await Promise.all([
      startProductpage(details.port, v1.port, ratings.port),
      startProductpage(details.port, v2.port, ratings.port),
      startProductpage(details.port, v3.port, ratings.port),
      startProductpage(details.port, loginReviews.port, recorder.port),
      startProductpage(details.port, failingV2.port, failing.port),
      startProductpage(details.port, deadV3.port, dead),
      startProductpage(dead, unavailable.port, dead),
    ]);
    [page.v1, page.v2, page.v3, pp.login, pp.noRatingsV2, pp.noRatingsV3, pp.backendsDown] = pages;
    pp.propagation = pp.login;
  });
  after(stopAll);

  test('each service answers /health with Istio\'s text', async () => {
    assert.equal((await http(page.v1.port, '/health')).body, 'Product page is healthy');
    assert.deepEqual(JSON.parse((await http(details.port, '/health')).body), { status: 'Details is healthy' });
    assert.deepEqual(JSON.parse((await http(reviews.v1.port, '/health')).body), { status: 'Reviews is healthy' });
    assert.deepEqual(JSON.parse((await http(ratings.port, '/health')).body), { status: 'Ratings is healthy' });
  });

  test('details, ratings and reviews return Istio\'s JSON', async () => {
    const d = JSON.parse((await http(details.port, '/details/0')).body) as Record<string, unknown>;
    assert.equal(d.author, 'William Shakespeare');
    assert.equal(d.type, 'paperback');
    assert.equal(d.pages, 200);
    assert.equal(d['ISBN-10'], '1234567890');
    assert.equal((await http(details.port, '/details/abc')).status, 400);
    assert.deepEqual(JSON.parse((await http(ratings.port, '/ratings/0')).body), { id: 0, ratings: { Reviewer1: 5, Reviewer2: 4 } });
    const r1 = JSON.parse((await http(reviews.v1.port, '/reviews/0')).body) as { id: string; podname: string; clustername: string; reviews: Record<string, unknown>[] };
    assert.equal(r1.id, '0');
    assert.equal(r1.podname, 'reviews-v1-test');
    assert.equal(r1.clustername, 'null');
    assert.equal(r1.reviews[0]!.reviewer, 'Reviewer1');
    assert.equal(r1.reviews[0]!.rating, undefined, 'v1 has no rating');
    const r3 = JSON.parse((await http(reviews.v3.port, '/reviews/0')).body) as { reviews: { rating: unknown }[] };
    assert.deepEqual(r3.reviews.map((r) => r.rating), [{ stars: 5, color: 'red' }, { stars: 4, color: 'red' }]);
  });

  for (const [version, color] of [['v1', undefined], ['v2', 'black'], ['v3', 'red']] as const) {
    test(`/productpage with reviews ${version}: ${color ? `${color} stars` : 'no stars'}`, async () => {
      const res = await http(page[version].port, '/productpage');
      assert.equal(res.status, 200);
      assert.match(String(res.headers['content-type']), /^text\/html/);
      const html = res.body;
      for (const marker of ['<title>Simple Bookstore App</title>', 'The Comedy of Errors', 'William Shakespeare', 'Book Details', 'Book Reviews', 'PublisherA', 'An extremely entertaining play by Shakespeare.']) {
        assert.ok(html.includes(marker), `page lacks ${marker}`);
      }
      assert.match(html, new RegExp(`Reviews served by: \\s*reviews-${version}-test`));
      if (color === undefined) {
        assert.equal(count(html, 'glyphicon glyphicon-star'), 0);
      } else {
        assert.equal(count(html, 'glyphicon glyphicon-star'), 9, '5 + 4 full stars');
        assert.equal(count(html, `text-${color}-500`), 2);
      }
      assert.ok(!html.includes('Error fetching'), 'no error section');
    });
  }

  test('the JSON API mirrors the services', async () => {
    const products = await http(page.v1.port, '/api/v1/products');
    assert.equal(products.headers['content-type'], 'application/json');
    assert.equal((JSON.parse(products.body) as { title: string }[])[0]!.title, 'The Comedy of Errors');
    assert.match(products.body, /^\[\{"id": 0, "title": /, 'simplejson separators');
    assert.equal((JSON.parse((await http(page.v1.port, '/api/v1/products/0')).body) as { author: string }).author, 'William Shakespeare');
    assert.equal((JSON.parse((await http(page.v3.port, '/api/v1/products/0/reviews')).body) as { podname: string }).podname, 'reviews-v3-test');
    assert.deepEqual(JSON.parse((await http(page.v1.port, '/api/v1/products/0/ratings')).body), { id: 0, ratings: { Reviewer1: 5, Reviewer2: 4 } });
    assert.equal((await http(page.v1.port, '/nope')).status, 404);
    assert.equal((await http(page.v1.port, '/static/tailwind/tailwind.css')).status, 200);
    assert.match((await http(page.v1.port, '/')).body, /simple bookstore application/);
  });

  test('sign in as jason: session cookie, name on the page, end-user on calls; sign out clears it', async () => {
    const { port } = pp.login;
    const anonymous = await http(port, '/productpage');
    assert.ok(anonymous.body.includes('Sign in'));
    assert.equal(recorder.requests.at(-1)!.headers['end-user'], undefined);

    const login = await http(port, '/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', referer: `http://127.0.0.1:${port}/productpage` },
      body: 'username=jason&passwd=password',
    });
    assert.equal(login.status, 302);
    assert.equal(login.headers.location, `http://127.0.0.1:${port}/productpage`);
    const setCookie = String(login.headers['set-cookie']);
    const cookie = setCookie.split(';')[0]!;
    assert.match(cookie, /^session=/);

    const signedIn = await http(port, '/productpage', { headers: { cookie } });
    assert.ok(signedIn.body.includes('>jason</p>'), 'user name in the nav bar');
    assert.ok(signedIn.body.includes('Sign out'));
    assert.equal(count(signedIn.body, 'glyphicon glyphicon-star'), 4, 'stars from the recording ratings (3 + 1)');
    assert.equal(recorder.requests.at(-1)!.headers['end-user'], 'jason', 'reviews forwards end-user to ratings');

    const forged = await http(port, '/productpage', { headers: { cookie: `${cookie.slice(0, -3)}xyz` } });
    assert.ok(forged.body.includes('Sign in'), 'a tampered session is no session');

    const logout = await http(port, '/logout', { headers: { cookie, referer: '/productpage' } });
    assert.equal(logout.status, 302);
    assert.match(String(logout.headers['set-cookie']), /^session=; Expires=Thu, 01 Jan 1970/);
    await http(port, '/productpage');
    assert.equal(recorder.requests.at(-1)!.headers['end-user'], undefined);
  });

  test('ratings failing (v2: HTTP 500 like a fault abort, v3: refused): "Ratings service is currently unavailable" per review', async () => {
    for (const p of [pp.noRatingsV2, pp.noRatingsV3]) {
      const html = (await http(p.port, '/productpage')).body;
      assert.equal(count(html, 'Ratings service is currently unavailable'), 2);
      assert.equal(count(html, 'glyphicon glyphicon-star'), 0);
      assert.ok(html.includes('Book Reviews'));
    }
    const body = JSON.parse((await http(reviewsFailingRatings.port, '/reviews/0')).body) as { reviews: { rating: unknown }[] };
    assert.deepEqual(body.reviews[0]!.rating, { error: 'Ratings service is currently unavailable' });
  });

  test('details refused, reviews answering 503: both error texts, page still 200; reviews tried twice, its status kept', async () => {
    const before = unavailable.requests.length;
    const res = await http(pp.backendsDown.port, '/productpage');
    assert.equal(res.status, 200);
    for (const text of ['Error fetching product details', 'Sorry, product details are currently unavailable for this book.', 'Error fetching product reviews', 'Sorry, product reviews are currently unavailable for this book.']) {
      assert.ok(res.body.includes(text), `page lacks ${text}`);
    }
    assert.equal(unavailable.requests.length - before, 2, 'two attempts per page view');
    const api = await http(pp.backendsDown.port, '/api/v1/products/0/reviews');
    assert.equal(api.status, 503);
    assert.deepEqual(JSON.parse(api.body), { error: 'Sorry, product reviews are currently unavailable for this book.' });
    const details = await http(pp.backendsDown.port, '/api/v1/products/0');
    assert.equal(details.status, 500, 'no response counts as 500');
    assert.deepEqual(JSON.parse(details.body), { error: 'Sorry, product details are currently unavailable for this book.' });
    const ratings = await http(pp.backendsDown.port, '/api/v1/products/0/ratings');
    assert.deepEqual(JSON.parse(ratings.body), { error: 'Sorry, product ratings are currently unavailable for this book.' });
  });

  describe('header propagation productpage → reviews → ratings', () => {
    const port = (): number => pp.propagation.port;

    test('x-request-id, b3 multi-headers, W3C, Datadog, Lightstep, user-agent and authorization arrive at ratings', async () => {
      const sent = {
        'x-request-id': 'c9a1a3c4-7d1f-9b5e-8a43-0f1e2d3c4b5a',
        'x-b3-traceid': '463ac35c9f6413ad48485a3953bb6124',
        'x-b3-spanid': 'a2fb4a1d1a96d312',
        'x-b3-parentspanid': '0020000000000001',
        'x-b3-sampled': '1',
        traceparent: '00-463ac35c9f6413ad48485a3953bb6124-a2fb4a1d1a96d312-01',
        tracestate: 'spar=1',
        'x-ot-span-context': 'ot-ctx',
        'x-datadog-trace-id': '123',
        'x-datadog-parent-id': '456',
        'x-datadog-sampling-priority': '1',
        'user-agent': 'spar-test/1',
        authorization: 'Bearer abc',
      };
      await http(port(), '/productpage', { headers: sent });
      const got = recorder.requests.at(-1)!.headers;
      for (const name of ['x-request-id', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-sampled', 'traceparent', 'tracestate', 'x-ot-span-context', 'x-datadog-trace-id', 'x-datadog-parent-id', 'x-datadog-sampling-priority', 'user-agent', 'authorization'] as const) {
        assert.equal(got[name], sent[name], name);
      }
      // productpage hands b3 to OpenTelemetry's B3MultiFormat, which does not pass the parent span id on.
      assert.equal(got['x-b3-parentspanid'], undefined);
    });

    test('a single b3 header becomes x-b3-* (64-bit trace id padded to 128 bits)', async () => {
      await http(port(), '/productpage', { headers: { b3: '80f198ee56343ba8-e457b5a2e4d86bd1-1', 'x-request-id': 'r-2' } });
      const got = recorder.requests.at(-1)!.headers;
      assert.equal(got['x-b3-traceid'], '000000000000000080f198ee56343ba8');
      assert.equal(got['x-b3-spanid'], 'e457b5a2e4d86bd1');
      assert.equal(got['x-b3-sampled'], '1');
      assert.equal(got['b3'], undefined);
      assert.equal(got['x-request-id'], 'r-2');
    });

    test('x-b3-flags: 1 (debug) forwards as sampled; headers not in Istio\'s list stay behind', async () => {
      await http(port(), '/productpage', { headers: { 'x-b3-traceid': '463ac35c9f6413ad', 'x-b3-spanid': 'a2fb4a1d1a96d312', 'x-b3-flags': '1', 'x-custom': 'no', 'end-user': 'mallory' } });
      const got = recorder.requests.at(-1)!.headers;
      assert.equal(got['x-b3-sampled'], '1');
      assert.equal(got['x-custom'], undefined);
      assert.equal(got['end-user'], undefined, 'productpage sets end-user from its session only');
    });
  });
});

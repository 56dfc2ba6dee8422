/**
 * The client timeouts Istio's traffic-management tasks depend on, measured on the real processes:
 *  - productpage → reviews: 3 s per attempt, 2 attempts. With ratings delayed 7 s behind reviews v2
 *    (fault-injection task, FI-1) the page gives up after about 6 s with "Sorry, product reviews are
 *    currently unavailable for this book."
 *  - reviews v3 → ratings: 2.5 s; reviews v2 → ratings: 10 s (so v2 survives a 4 s ratings delay
 *    that v3 does not).
 * The scenarios run concurrently so the file takes about as long as the slowest one (~6 s).
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { count, http, startSample, startStub, stopAll, type RunningSample, type Stub } from './helpers.js';

function delayedRatings(delayMs: number): Promise<Stub> {
  return startStub((_req, res: ServerResponse) => {
    const t = setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"id": 0, "ratings": {"Reviewer1": 5, "Reviewer2": 4}}');
    }, delayMs);
    res.on('close', () => clearTimeout(t));
  });
}

const reviewsEnv = (version: 'v2' | 'v3', ratingsPort: number): Record<string, string> => ({
  SERVICE_VERSION: version,
  ENABLE_RATINGS: 'true',
  STAR_COLOR: version === 'v2' ? 'black' : 'red',
  RATINGS_HOSTNAME: '127.0.0.1',
  RATINGS_SERVICE_PORT: String(ratingsPort),
});

describe('Bookinfo client timeouts', { concurrency: true }, () => {
  let details: RunningSample;
  let ratings7s: Stub;
  let ratings4s: Stub;
  let v2Behind7s: RunningSample;
  let v2Behind4s: RunningSample;
  let v3Behind4s: RunningSample;
  let page: RunningSample;

  before(async () => {
    [details, ratings7s, ratings4s] = await Promise.all([startSample('details'), delayedRatings(7000), delayedRatings(4000)]);
    [v2Behind7s, v2Behind4s, v3Behind4s] = await Promise.all([
      startSample('reviews', { env: reviewsEnv('v2', ratings7s.port) }),
      startSample('reviews', { env: reviewsEnv('v2', ratings4s.port) }),
      startSample('reviews', { env: reviewsEnv('v3', ratings4s.port) }),
    ]);
    page = await startSample('productpage', {
      env: { DETAILS_HOSTNAME: '127.0.0.1', DETAILS_SERVICE_PORT: String(details.port), REVIEWS_HOSTNAME: '127.0.0.1', REVIEWS_SERVICE_PORT: String(v2Behind7s.port) },
    });
  });
  after(stopAll);

  test('ratings delayed 7 s behind reviews v2: the page gives up after ~6 s (3 s × 2 attempts)', async () => {
    const res = await http(page.port, '/productpage');
    assert.equal(res.status, 200);
    assert.ok(res.body.includes('Error fetching product reviews'));
    assert.ok(res.body.includes('Sorry, product reviews are currently unavailable for this book.'));
    assert.ok(res.body.includes('Book Details'), 'details still shown');
    // Two 3 s timeouts. The error text already proves productpage did not wait for the 7 s answer;
    // the upper bound is loose so that a loaded machine does not fail the test.
    assert.ok(res.ms >= 5900, `took ${res.ms.toFixed(0)} ms, expected about 6000`);
    assert.ok(res.ms < 8000, `took ${res.ms.toFixed(0)} ms, expected about 6000`);
    assert.equal(ratings7s.requests.length, 2, 'each attempt reached ratings through reviews');
  });

  test('reviews v3 gives up on ratings after 2.5 s: "Ratings service is currently unavailable"', async () => {
    const res = await http(v3Behind4s.port, '/reviews/0');
    assert.equal(res.status, 200);
    assert.equal(count(res.body, 'Ratings service is currently unavailable'), 2);
    assert.ok(res.ms >= 2400 && res.ms < 4000, `took ${res.ms.toFixed(0)} ms, expected about 2500`);
  });

  test('reviews v2 waits up to 10 s: a 4 s ratings delay still gives black stars', async () => {
    const res = await http(v2Behind4s.port, '/reviews/0');
    const body = JSON.parse(res.body) as { reviews: { rating: unknown }[] };
    assert.deepEqual(body.reviews[0]!.rating, { stars: 5, color: 'black' });
    assert.ok(res.ms >= 3900, `took ${res.ms.toFixed(0)} ms, expected about 4000`);
  });
});

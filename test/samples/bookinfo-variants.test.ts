/**
 * The Bookinfo image variants that differ only by baked-in env: the flooding productpage
 * (FLOOD_FACTOR), the faulty ratings (SERVICE_VERSION=v-faulty), ratings v2 with and without its
 * MongoDB, and ratings v1's in-memory POST. (details v2 calls Google Books, which tests never reach.)
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { closedPort, http, startSample, startStub, stopAll } from './helpers.js';

describe('Bookinfo image variants', { concurrency: true }, () => {
  after(stopAll);

  test('productpage-v-flooding: FLOOD_FACTOR extra reviews calls per page view', async () => {
    const reviews = await startStub((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"id": "0", "podname": "stub", "clustername": "null", "reviews": []}');
    });
    const dead = await closedPort();
    const page = await startSample('productpage', {
      env: { FLOOD_FACTOR: '3', DETAILS_HOSTNAME: '127.0.0.1', DETAILS_SERVICE_PORT: String(dead), REVIEWS_HOSTNAME: '127.0.0.1', REVIEWS_SERVICE_PORT: String(reviews.port) },
    });
    await http(page.port, '/productpage');
    assert.equal(reviews.requests.length, 4, '3 floods + the real call');
    const metrics = (await http(page.port, '/metrics')).body;
    assert.match(metrics, /request_result_total\{destination_app="reviews",response_code="200"\} 4\.0/);
    assert.match(metrics, /request_result_total\{destination_app="details",response_code="500"\} 1\.0/);
  });

  test('ratings v-faulty: about half of the requests get 503 {"error":"Service unavailable"}', async () => {
    const ratings = await startSample('ratings', { env: { SERVICE_VERSION: 'v-faulty' } });
    const results = await Promise.all(Array.from({ length: 40 }, () => http(ratings.port, '/ratings/0')));
    const failed = results.filter((r) => r.status === 503);
    assert.ok(failed.length > 0 && failed.length < 40, `${failed.length} of 40 failed`);
    assert.deepEqual(JSON.parse(failed[0]!.body), { error: 'Service unavailable' });
    assert.equal(results.filter((r) => r.status === 200).length + failed.length, 40);
  });

  test('ratings v2 without its database: 500 "could not connect to ratings database"', async () => {
    const dead = await closedPort();
    const ratings = await startSample('ratings', { env: { SERVICE_VERSION: 'v2', MONGO_DB_URL: `mongodb://127.0.0.1:${dead}/test` } });
    const res = await http(ratings.port, '/ratings/0');
    assert.equal(res.status, 500);
    assert.deepEqual(JSON.parse(res.body), { error: 'could not connect to ratings database' });
    const post = await http(ratings.port, '/ratings/0', { method: 'POST', body: '{"Reviewer1": 1}' });
    assert.equal(post.status, 501);
  });

  test('ratings v2 reads MongoDB (the mongodb stand-in, started with bookinfo-db.yaml\'s args) over the wire protocol', async () => {
    const mongo = await startSample('mongodb', { raw: true, args: ['--ipv6', '--bind_ip_all', '--host', '127.0.0.1', '--port', '0'] });
    const ratings = await startSample('ratings', { env: { SERVICE_VERSION: 'v2', MONGO_DB_URL: `mongodb://127.0.0.1:${mongo.port}/test` } });
    const res = await http(ratings.port, '/ratings/0');
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { id: 0, ratings: { Reviewer1: 5, Reviewer2: 4 } });
    assert.match(mongo.output(), /command find test/);
  });

  test('ratings v1 keeps POSTed ratings per product', async () => {
    const ratings = await startSample('ratings');
    const post = await http(ratings.port, '/ratings/7', { method: 'POST', body: '{"Reviewer1": 1, "Reviewer2": 2}' });
    assert.deepEqual(JSON.parse(post.body), { id: 7, ratings: { Reviewer1: 1, Reviewer2: 2 } });
    assert.deepEqual(JSON.parse((await http(ratings.port, '/ratings/7')).body), { id: 7, ratings: { Reviewer1: 1, Reviewer2: 2 } });
    assert.deepEqual(JSON.parse((await http(ratings.port, '/ratings/x')).body), { error: 'please provide numeric product ID' });
  });
});

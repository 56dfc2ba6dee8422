/**
 * Bookinfo `ratings`: the stars each reviewer gave a book, as Istio's ratings image serves them
 * (samples/bookinfo/src/ratings/ratings.js). `node main.js 9080`; SERVICE_VERSION picks the
 * behaviour the image variants bake in:
 *   v1 (default)   in-memory ratings {Reviewer1: 5, Reviewer2: 4}; POST replaces them per product
 *   v2             "backed by a database" (DB_TYPE=mysql + MYSQL_DB_HOST/PORT, else MONGO_DB_URL);
 *                  Spar's sample only checks the database answers TCP — see README "missing"
 *   v-faulty       503 {"error":"Service unavailable"} for half of the requests
 *   v-delayed      half of the requests answered after 7 s
 *   v-unavailable  503 for alternate 60 s periods
 *   v-unhealthy    503 and a failing /health for alternate 15 min periods
 */
import { connect } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, runMain, send, startHttpSample } from '../common/server.js';

const JSON_TYPE = 'application/json';
const version = process.env.SERVICE_VERSION ?? 'v1';

/** Ratings added with POST, by product id (v1 and the fault variants keep them in memory). */
const userAddedRatings = new Map<number, { id: number; ratings: unknown }>();
let unavailable = false;
let healthy = true;

function localRatings(productId: number): unknown {
  return userAddedRatings.get(productId) ?? { id: productId, ratings: { Reviewer1: 5, Reviewer2: 4 } };
}

function ok(res: ServerResponse, productId: number): void {
  send(res, 200, JSON_TYPE, JSON.stringify(localRatings(productId)));
}

function serviceUnavailable(res: ServerResponse): void {
  send(res, 503, JSON_TYPE, JSON.stringify({ error: 'Service unavailable' }));
}

/** The product id as ratings.js reads it: the last path segment, parsed like JS parseInt. */
function productIdOf(url: string): number {
  return parseInt(url.split('/').pop() ?? '', 10);
}

/** Whether the configured database accepts a TCP connection within 2 s. */
function databaseReachable(): Promise<boolean> {
  let host: string;
  let port: number;
  if (process.env.DB_TYPE === 'mysql') {
    host = process.env.MYSQL_DB_HOST ?? 'mysqldb';
    port = Number(process.env.MYSQL_DB_PORT ?? '3306');
  } else {
    try {
      const u = new URL(process.env.MONGO_DB_URL ?? 'mongodb://mongodb:27017/test');
      host = u.hostname;
      port = Number(u.port || '27017');
    } catch {
      return Promise.resolve(false);
    }
  }
  return new Promise((resolve) => {
    const sock = connect({ host, port, timeout: 2000 });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('timeout', () => {
      sock.destroy();
      resolve(false);
    });
    sock.once('error', () => resolve(false));
  });
}

async function getFromDatabase(res: ServerResponse): Promise<void> {
  const reachable = await databaseReachable();
  if (!reachable) {
    if (process.env.DB_TYPE === 'mysql') {
      // ratings.js ends the response without setting a status here: a 200 carrying the error.
      send(res, 200, JSON_TYPE, JSON.stringify({ error: 'could not connect to ratings database' }));
    } else {
      send(res, 500, JSON_TYPE, JSON.stringify({ error: 'could not connect to ratings database' }));
    }
    return;
  }
  process.stdout.write('ratings v2: the database answers, but this sample does not speak its protocol\n');
  send(res, 500, JSON_TYPE, JSON.stringify({ error: 'could not load ratings from database' }));
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  process.stdout.write(`${req.method} ${url}\n`);
  if (req.method === 'GET' && (url === '/health' || url.startsWith('/health?'))) {
    if (healthy) send(res, 200, JSON_TYPE, JSON.stringify({ status: 'Ratings is healthy' }));
    else send(res, 500, JSON_TYPE, JSON.stringify({ status: 'Ratings is not healthy' }));
    return;
  }
  if (!/^\/ratings\/[0-9]*/.test(url) || (req.method !== 'GET' && req.method !== 'POST')) {
    send(res, 404, 'text/plain', 'Page Not Found');
    return;
  }
  const productId = productIdOf(url);
  if (Number.isNaN(productId)) {
    send(res, 400, JSON_TYPE, JSON.stringify({ error: 'please provide numeric product ID' }));
    return;
  }
  if (req.method === 'POST') {
    let ratings: unknown;
    try {
      ratings = JSON.parse((await readBody(req)).toString('utf8'));
    } catch {
      send(res, 400, JSON_TYPE, JSON.stringify({ error: 'please provide valid ratings JSON' }));
      return;
    }
    if (version === 'v2') {
      send(res, 501, JSON_TYPE, JSON.stringify({ error: 'Post not implemented for database backed ratings' }));
      return;
    }
    userAddedRatings.set(productId, { id: productId, ratings });
    ok(res, productId);
    return;
  }
  switch (version) {
    case 'v2':
      await getFromDatabase(res);
      return;
    case 'v-faulty':
      if (Math.random() <= 0.5) serviceUnavailable(res);
      else ok(res, productId);
      return;
    case 'v-delayed':
      if (Math.random() <= 0.5) {
        const t = setTimeout(() => ok(res, productId), 7000);
        res.on('close', () => clearTimeout(t));
      } else ok(res, productId);
      return;
    case 'v-unavailable':
    case 'v-unhealthy':
      if (unavailable) serviceUnavailable(res);
      else ok(res, productId);
      return;
    default:
      ok(res, productId);
  }
}

runMain(async () => {
  if (version === 'v-unavailable') {
    setInterval(() => (unavailable = !unavailable), 60_000).unref();
  }
  if (version === 'v-unhealthy') {
    setInterval(() => {
      healthy = !healthy;
      unavailable = !unavailable;
    }, 900_000).unref();
  }
  await startHttpSample({
    name: 'ratings',
    defaultPort: 9080,
    handler: (req, res) => {
      handle(req, res).catch((err: unknown) => {
        process.stdout.write(`${String(err)}\n`);
        if (!res.headersSent) send(res, 500, JSON_TYPE, JSON.stringify({ error: 'internal error' }));
      });
    },
  });
});

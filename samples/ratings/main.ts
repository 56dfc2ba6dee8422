/**
 * Bookinfo `ratings`: the stars each reviewer gave a book, as Istio's ratings image serves them
 * (samples/bookinfo/src/ratings/ratings.js). `node main.js 9080`; SERVICE_VERSION picks the
 * behaviour the image variants bake in:
 *   v1 (default)   in-memory ratings {Reviewer1: 5, Reviewer2: 4}; POST replaces them per product
 *   v2             ratings from MongoDB at MONGO_DB_URL (collection test.ratings, the first two
 *                  documents' `rating`), spoken over MongoDB's wire protocol; DB_TYPE=mysql is
 *                  not supported (answers as if the MySQL connection failed)
 *   v-faulty       503 {"error":"Service unavailable"} for half of the requests
 *   v-delayed      half of the requests answered after 7 s
 *   v-unavailable  503 for alternate 60 s periods
 *   v-unhealthy    503 and a failing /health for alternate 15 min periods
 */
import { connect } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, runMain, send, startHttpSample } from '../common/server.js';
import { decodeOpMsg, encodeOpMsg, MessageReader, OP_MSG, type BsonDocument, type BsonValue } from '../mongodb/wire.js';

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

/** Reviewer ratings from MongoDB's `test.ratings` (first two documents' `rating`), as ratings.js reads them. */
async function getFromMongo(res: ServerResponse, productId: number): Promise<void> {
  let url: URL;
  try {
    url = new URL(process.env.MONGO_DB_URL ?? '');
  } catch {
    send(res, 500, JSON_TYPE, JSON.stringify({ error: 'could not connect to ratings database' }));
    return;
  }
  const result = await mongoFind(url.hostname.replace(/^\[|\]$/g, ''), Number(url.port || '27017'), 'test', 'ratings');
  if (result.kind === 'connect-error') {
    process.stdout.write(`${result.message}\n`);
    send(res, 500, JSON_TYPE, JSON.stringify({ error: 'could not connect to ratings database' }));
  } else if (result.kind === 'query-error') {
    process.stdout.write(`${result.message}\n`);
    send(res, 500, JSON_TYPE, JSON.stringify({ error: 'could not load ratings from database' }));
  } else {
    const docs = result.docs;
    const rating = (i: number): BsonValue => {
      const v = docs[i]?.rating ?? 0;
      return typeof v === 'bigint' ? Number(v) : v;
    };
    send(res, 200, JSON_TYPE, JSON.stringify({ id: productId, ratings: { Reviewer1: rating(0), Reviewer2: rating(1) } }));
  }
}

type FindResult = { kind: 'ok'; docs: BsonDocument[] } | { kind: 'connect-error'; message: string } | { kind: 'query-error'; message: string };

/** One `find` over a fresh connection (the driver's connect timeout bounds the whole exchange). */
function mongoFind(host: string, port: number, db: string, coll: string): Promise<FindResult> {
  return new Promise((resolve) => {
    let connected = false;
    let settled = false;
    const done = (r: FindResult): void => {
      if (settled) return;
      settled = true;
      sock.destroy();
      resolve(r);
    };
    const sock = connect({ host, port, timeout: 10_000 });
    const reader = new MessageReader();
    sock.once('connect', () => {
      connected = true;
      sock.write(encodeOpMsg(1, 0, { find: coll, filter: {}, $db: db }));
    });
    sock.on('data', (chunk: Buffer) => {
      try {
        for (const m of reader.push(chunk)) {
          if (m.opCode !== OP_MSG || m.responseTo !== 1) continue;
          const reply = decodeOpMsg(m.body);
          const batch = (reply.cursor as BsonDocument | undefined)?.firstBatch;
          if (reply.ok !== 1 || !Array.isArray(batch)) done({ kind: 'query-error', message: `find failed: ${String(reply.errmsg ?? 'no cursor')}` });
          else done({ kind: 'ok', docs: batch as BsonDocument[] });
        }
      } catch (err) {
        done({ kind: 'query-error', message: err instanceof Error ? err.message : String(err) });
      }
    });
    sock.once('timeout', () => done({ kind: connected ? 'query-error' : 'connect-error', message: `MongoDB ${host}:${port}: timed out` }));
    sock.once('error', (err) => done({ kind: connected ? 'query-error' : 'connect-error', message: `MongoDB ${host}:${port}: ${err.message}` }));
    sock.once('close', () => done({ kind: connected ? 'query-error' : 'connect-error', message: `MongoDB ${host}:${port}: connection closed` }));
  });
}

async function getFromDatabase(res: ServerResponse, productId: number): Promise<void> {
  if (process.env.DB_TYPE === 'mysql') {
    // No MySQL client in this sample: it answers as ratings.js does when the connection fails
    // (a 200 carrying the error, since ratings.js sets no status there).
    process.stdout.write('ratings v2: DB_TYPE=mysql is not supported by this sample\n');
    send(res, 200, JSON_TYPE, JSON.stringify({ error: 'could not connect to ratings database' }));
    return;
  }
  await getFromMongo(res, productId);
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
      await getFromDatabase(res, productId);
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

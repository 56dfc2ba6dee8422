/**
 * A stand-in for Bookinfo's MongoDB image (examples-bookinfo-mongodb: mongo with `test.ratings`
 * = {rating: 5}, {rating: 4} imported at start): an in-memory server speaking the MongoDB wire
 * protocol (see wire.ts) for the commands ratings v2 and a driver's handshake send —
 * hello/isMaster, ping, buildInfo, find, insert, drop, endSessions. Anything else gets MongoDB's
 * CommandNotFound error. Accepts mongod's flags: `--port N` (27017), `--bind_ip H`,
 * `--bind_ip_all`, `--ipv6`, and `--host H` like the other samples.
 */
import { createServer, type Socket } from 'node:net';
import { exitOnSignals, formatAddress, listen, parsePort, runMain } from '../common/server.js';
import { decodeOpMsg, decodeOpQuery, encodeOpMsg, encodeOpReply, MessageReader, ObjectId, OP_MSG, OP_QUERY, type BsonDocument } from './wire.js';

/** database → collection → documents */
const data = new Map<string, Map<string, BsonDocument[]>>([
  ['test', new Map([['ratings', [{ _id: new ObjectId(), rating: 5 }, { _id: new ObjectId(), rating: 4 }]]])],
]);

function collection(db: string, name: string, create: boolean): BsonDocument[] | undefined {
  let d = data.get(db);
  if (!d && create) data.set(db, (d = new Map()));
  let c = d?.get(name);
  if (!c && create && d) d.set(name, (c = []));
  return c;
}

function helloReply(): BsonDocument {
  return {
    helloOk: true,
    ismaster: true,
    isWritablePrimary: true,
    maxBsonObjectSize: 16 * 1024 * 1024,
    maxMessageSizeBytes: 48_000_000,
    maxWriteBatchSize: 100_000,
    localTime: new Date(),
    logicalSessionTimeoutMinutes: 30,
    connectionId: 1,
    minWireVersion: 0,
    maxWireVersion: 21,
    readOnly: false,
    ok: 1,
  };
}

/** Whether `doc` matches an equality filter (the only kind the stand-in supports). */
function matches(doc: BsonDocument, filter: BsonDocument): boolean {
  return Object.entries(filter).every(([k, v]) => JSON.stringify(doc[k], replacer) === JSON.stringify(v, replacer));
}
const replacer = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v instanceof ObjectId ? v.toHexString() : v);

/** Runs one command document; returns MongoDB's reply document. */
function runCommand(cmd: BsonDocument): BsonDocument {
  const name = Object.keys(cmd)[0] ?? '';
  const db = typeof cmd.$db === 'string' ? cmd.$db : 'admin';
  switch (name.toLowerCase()) {
    case 'hello':
    case 'ismaster':
      return helloReply();
    case 'ping':
    case 'endsessions':
      return { ok: 1 };
    case 'buildinfo':
      return { version: '8.0.8', versionArray: [8, 0, 8, 0], ok: 1 };
    case 'find': {
      const coll = collection(db, String(cmd[name]), false) ?? [];
      const filter = (cmd.filter ?? {}) as BsonDocument;
      let docs = coll.filter((d) => matches(d, filter));
      const limit = Number(cmd.limit ?? 0);
      if (limit > 0) docs = docs.slice(0, limit);
      return { cursor: { firstBatch: docs, id: 0n, ns: `${db}.${String(cmd[name])}` }, ok: 1 };
    }
    case 'insert': {
      const coll = collection(db, String(cmd[name]), true)!;
      const docs = Array.isArray(cmd.documents) ? (cmd.documents as BsonDocument[]) : [];
      for (const d of docs) coll.push({ _id: d._id ?? new ObjectId(), ...d });
      return { n: docs.length, ok: 1 };
    }
    case 'drop':
      data.get(db)?.delete(String(cmd[name]));
      return { ok: 1 };
    default:
      return { ok: 0, errmsg: `no such command: '${name}'`, code: 59, codeName: 'CommandNotFound' };
  }
}

let nextRequestId = 1;

function serve(conn: Socket): void {
  const reader = new MessageReader();
  conn.on('data', (chunk: Buffer) => {
    let messages;
    try {
      messages = reader.push(chunk);
    } catch (err) {
      process.stdout.write(`closing connection: ${err instanceof Error ? err.message : String(err)}\n`);
      conn.destroy();
      return;
    }
    for (const m of messages) {
      try {
        if (m.opCode === OP_MSG) {
          const cmd = decodeOpMsg(m.body);
          process.stdout.write(`command ${Object.keys(cmd)[0]} ${typeof cmd.$db === 'string' ? cmd.$db : ''}\n`);
          conn.write(encodeOpMsg(nextRequestId++, m.requestId, runCommand(cmd)));
        } else if (m.opCode === OP_QUERY) {
          const { collection: ns, query } = decodeOpQuery(m.body);
          const cmd = (query.$query as BsonDocument | undefined) ?? query;
          process.stdout.write(`query ${ns} ${Object.keys(cmd)[0]}\n`);
          conn.write(encodeOpReply(nextRequestId++, m.requestId, runCommand({ ...cmd, $db: ns.split('.')[0]! })));
        } else {
          process.stdout.write(`unsupported opcode ${m.opCode}; closing connection\n`);
          conn.destroy();
          return;
        }
      } catch (err) {
        process.stdout.write(`bad message: ${err instanceof Error ? err.message : String(err)}\n`);
        conn.destroy();
        return;
      }
    }
  });
  conn.on('error', () => conn.destroy());
}

runMain(async () => {
  const argv = process.argv.slice(2);
  let port = 27017;
  let host: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--port') port = parsePort(argv[++i] ?? '', '--port');
    else if (a === '--bind_ip' || a === '--host') host = (argv[++i] ?? '').split(',')[0];
    else if (a === '--bind_ip_all' || a === '--ipv6') continue;
    else throw new Error(`mongodb stand-in: unsupported argument ${a}`);
  }
  const server = createServer(serve);
  const addr = await listen(server, port, host);
  process.stdout.write(`mongodb listening on ${formatAddress(addr)}\n`);
  exitOnSignals([server]);
});

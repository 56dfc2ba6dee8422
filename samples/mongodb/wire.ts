/**
 * The slice of MongoDB's wire protocol that Bookinfo needs: BSON documents (the common types),
 * OP_MSG (opcode 2013, what drivers send commands with), and OP_QUERY/OP_REPLY (opcodes 2004/1,
 * still used by drivers for the first `hello`/`isMaster` of a connection). Shared by the mongodb
 * stand-in (server side) and ratings v2 (client side), so that the bytes between them are real
 * MongoDB traffic — which is what Istio's TCP tasks measure.
 * Spec: https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/ and bsonspec.org.
 */

/** BSON ObjectId (12 bytes). */
export class ObjectId {
  private static counter = Math.floor(Math.random() * 0xffffff);
  private static readonly processUnique = Buffer.from(Array.from({ length: 5 }, () => Math.floor(Math.random() * 256)));
  readonly bytes: Buffer;
  constructor(bytes?: Buffer) {
    if (bytes) {
      this.bytes = Buffer.from(bytes);
      return;
    }
    this.bytes = Buffer.alloc(12);
    this.bytes.writeUInt32BE(Math.floor(Date.now() / 1000), 0);
    ObjectId.processUnique.copy(this.bytes, 4);
    ObjectId.counter = (ObjectId.counter + 1) & 0xffffff;
    this.bytes.writeUIntBE(ObjectId.counter, 9, 3);
  }
  toHexString(): string {
    return this.bytes.toString('hex');
  }
}

export type BsonValue = number | bigint | string | boolean | null | Date | ObjectId | BsonValue[] | BsonDocument;
export interface BsonDocument {
  [key: string]: BsonValue;
}

function cstring(s: string): Buffer {
  if (s.includes('\0')) throw new Error(`BSON key or cstring contains NUL: ${JSON.stringify(s)}`);
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}

function encodeElement(name: string, v: BsonValue): Buffer {
  const key = cstring(name);
  const el = (type: number, payload: Buffer): Buffer => Buffer.concat([Buffer.from([type]), key, payload]);
  if (v === null) return el(0x0a, Buffer.alloc(0));
  if (typeof v === 'boolean') return el(0x08, Buffer.from([v ? 1 : 0]));
  if (typeof v === 'string') {
    const s = Buffer.from(v, 'utf8');
    const len = Buffer.alloc(4);
    len.writeInt32LE(s.length + 1);
    return el(0x02, Buffer.concat([len, s, Buffer.from([0])]));
  }
  if (typeof v === 'bigint') {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(v);
    return el(0x12, b);
  }
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) {
      const b = Buffer.alloc(4);
      b.writeInt32LE(v);
      return el(0x10, b);
    }
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    return el(0x01, b);
  }
  if (v instanceof Date) {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt(v.getTime()));
    return el(0x09, b);
  }
  if (v instanceof ObjectId) return el(0x07, v.bytes);
  if (Array.isArray(v)) return el(0x04, encodeDocument(Object.fromEntries(v.map((x, i) => [String(i), x]))));
  return el(0x03, encodeDocument(v));
}

/** A BSON document's bytes. */
export function encodeDocument(doc: BsonDocument): Buffer {
  const body = Buffer.concat(Object.entries(doc).map(([k, v]) => encodeElement(k, v)));
  const len = Buffer.alloc(4);
  len.writeInt32LE(body.length + 5);
  return Buffer.concat([len, body, Buffer.from([0])]);
}

/** Decodes the document at `offset`; returns it and the offset after it. Throws on malformed input. */
export function decodeDocument(buf: Buffer, offset = 0): { doc: BsonDocument; end: number } {
  if (offset + 5 > buf.length) throw new Error('BSON: truncated document');
  const size = buf.readInt32LE(offset);
  const end = offset + size;
  if (size < 5 || end > buf.length || buf[end - 1] !== 0) throw new Error('BSON: bad document length');
  const doc: BsonDocument = {};
  let p = offset + 4;
  const readCString = (): string => {
    const z = buf.indexOf(0, p);
    if (z < 0 || z >= end) throw new Error('BSON: unterminated cstring');
    const s = buf.toString('utf8', p, z);
    p = z + 1;
    return s;
  };
  while (p < end - 1) {
    const type = buf[p++]!;
    const name = readCString();
    switch (type) {
      case 0x01:
        doc[name] = buf.readDoubleLE(p);
        p += 8;
        break;
      case 0x02: {
        const len = buf.readInt32LE(p);
        doc[name] = buf.toString('utf8', p + 4, p + 4 + len - 1);
        p += 4 + len;
        break;
      }
      case 0x03:
      case 0x04: {
        const inner = decodeDocument(buf, p);
        doc[name] = type === 0x04 ? Object.values(inner.doc) : inner.doc;
        p = inner.end;
        break;
      }
      case 0x07:
        doc[name] = new ObjectId(buf.subarray(p, p + 12));
        p += 12;
        break;
      case 0x08:
        doc[name] = buf[p++] === 1;
        break;
      case 0x09:
        doc[name] = new Date(Number(buf.readBigInt64LE(p)));
        p += 8;
        break;
      case 0x0a:
        doc[name] = null;
        break;
      case 0x10:
        doc[name] = buf.readInt32LE(p);
        p += 4;
        break;
      case 0x11: // timestamp: kept as its 64-bit value
      case 0x12:
        doc[name] = buf.readBigInt64LE(p);
        p += 8;
        break;
      default:
        throw new Error(`BSON: type 0x${type.toString(16)} of "${name}" not supported`);
    }
    if (p > end) throw new Error('BSON: element overruns its document');
  }
  return { doc, end };
}

export const OP_REPLY = 1;
export const OP_QUERY = 2004;
export const OP_MSG = 2013;

export interface WireMessage {
  requestId: number;
  responseTo: number;
  opCode: number;
  body: Buffer;
}

function header(length: number, requestId: number, responseTo: number, opCode: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeInt32LE(length, 0);
  h.writeInt32LE(requestId, 4);
  h.writeInt32LE(responseTo, 8);
  h.writeInt32LE(opCode, 12);
  return h;
}

/** An OP_MSG with one body section (kind 0). */
export function encodeOpMsg(requestId: number, responseTo: number, doc: BsonDocument): Buffer {
  const body = Buffer.concat([Buffer.alloc(4), Buffer.from([0]), encodeDocument(doc)]);
  return Buffer.concat([header(16 + body.length, requestId, responseTo, OP_MSG), body]);
}

/** The command document of an OP_MSG: the kind-0 body, with kind-1 sequences added as arrays. */
export function decodeOpMsg(body: Buffer): BsonDocument {
  const flags = body.readUInt32LE(0);
  const end = flags & 1 ? body.length - 4 : body.length; // checksumPresent
  let p = 4;
  let doc: BsonDocument | undefined;
  const sequences: [string, BsonDocument[]][] = [];
  while (p < end) {
    const kind = body[p++];
    if (kind === 0) {
      const d = decodeDocument(body, p);
      doc = d.doc;
      p = d.end;
    } else if (kind === 1) {
      const size = body.readInt32LE(p);
      const stop = p + size;
      const z = body.indexOf(0, p + 4);
      const id = body.toString('utf8', p + 4, z);
      let q = z + 1;
      const docs: BsonDocument[] = [];
      while (q < stop) {
        const d = decodeDocument(body, q);
        docs.push(d.doc);
        q = d.end;
      }
      sequences.push([id, docs]);
      p = stop;
    } else throw new Error(`OP_MSG: section kind ${kind} not supported`);
  }
  if (!doc) throw new Error('OP_MSG: no body section');
  for (const [id, docs] of sequences) doc[id] = docs;
  return doc;
}

/** An OP_QUERY's collection name and query document. */
export function decodeOpQuery(body: Buffer): { collection: string; query: BsonDocument } {
  const z = body.indexOf(0, 4);
  const collection = body.toString('utf8', 4, z);
  const { doc } = decodeDocument(body, z + 1 + 8); // skip numberToSkip, numberToReturn
  return { collection, query: doc };
}

/** An OP_REPLY carrying one document. */
export function encodeOpReply(requestId: number, responseTo: number, doc: BsonDocument): Buffer {
  const fixed = Buffer.alloc(20);
  fixed.writeInt32LE(0, 0); // responseFlags
  fixed.writeBigInt64LE(0n, 4); // cursorID
  fixed.writeInt32LE(0, 12); // startingFrom
  fixed.writeInt32LE(1, 16); // numberReturned
  const body = Buffer.concat([fixed, encodeDocument(doc)]);
  return Buffer.concat([header(16 + body.length, requestId, responseTo, OP_REPLY), body]);
}

/** Splits a byte stream into wire messages; call `push` with each chunk, get the complete messages. */
export class MessageReader {
  private pending: Buffer = Buffer.alloc(0);
  constructor(private readonly maxMessageBytes = 48_000_000) {}
  push(chunk: Buffer): WireMessage[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: WireMessage[] = [];
    while (this.pending.length >= 16) {
      const length = this.pending.readInt32LE(0);
      if (length < 16 || length > this.maxMessageBytes) throw new Error(`wire: message length ${length} out of range`);
      if (this.pending.length < length) break;
      out.push({
        requestId: this.pending.readInt32LE(4),
        responseTo: this.pending.readInt32LE(8),
        opCode: this.pending.readInt32LE(12),
        body: this.pending.subarray(16, length),
      });
      this.pending = this.pending.subarray(length);
    }
    return out;
  }
}

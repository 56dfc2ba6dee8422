/**
 * Listener filters that look at the first bytes of a connection without consuming them:
 * tls_inspector (SNI and ALPN from the TLS ClientHello) and http_inspector (HTTP/1.x or h2c).
 * The bytes read are pushed back (`unshift`) so the filter chain sees the connection from its start.
 */
import type { Socket } from 'node:net';

/** Waits for the first bytes (up to timeoutMs; 0 = no limit, as Envoy's listener_filters_timeout); resolves with them (already pushed back), or empty. */
export function peek(socket: Socket, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (b: Buffer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.removeListener('readable', onReadable);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
      resolve(b);
    };
    const onReadable = () => {
      const chunk = socket.read() as Buffer | null;
      if (chunk === null) return;
      socket.unshift(chunk);
      finish(chunk);
    };
    const onEnd = () => finish(Buffer.alloc(0));
    const timer = timeoutMs > 0 ? setTimeout(() => finish(Buffer.alloc(0)), timeoutMs) : undefined;
    socket.on('readable', onReadable);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
  });
}

export interface ClientHello {
  sni: string;
  alpn: string[];
}

/** Parses SNI and ALPN from a TLS ClientHello; undefined when the bytes are not TLS. */
export function parseClientHello(b: Buffer): ClientHello | undefined {
  if (b.length < 5 || b[0] !== 0x16 || b[1] !== 0x03) return undefined;
  const out: ClientHello = { sni: '', alpn: [] };
  try {
    let p = 5;
    if (b[p] !== 0x01) return out; // not a ClientHello
    p += 4; // handshake type + length
    p += 2 + 32; // version + random
    p += 1 + b[p]; // session id
    p += 2 + b.readUInt16BE(p); // cipher suites
    p += 1 + b[p]; // compression methods
    const extEnd = p + 2 + b.readUInt16BE(p);
    p += 2;
    while (p + 4 <= extEnd && p + 4 <= b.length) {
      const type = b.readUInt16BE(p);
      const len = b.readUInt16BE(p + 2);
      const d = p + 4;
      if (type === 0 && d + 5 <= b.length) {
        const nameLen = b.readUInt16BE(d + 3);
        out.sni = b.subarray(d + 5, d + 5 + nameLen).toString('latin1').toLowerCase();
      } else if (type === 16) {
        let q = d + 2;
        const end = d + 2 + b.readUInt16BE(d);
        while (q < end && q < b.length) {
          const l = b[q];
          out.alpn.push(b.subarray(q + 1, q + 1 + l).toString('latin1'));
          q += 1 + l;
        }
      }
      p = d + len;
    }
  } catch {
    // a truncated ClientHello: report what was found
  }
  return out;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];

/** http_inspector: 'h2c' for the HTTP/2 preface, 'http/1.1' / 'http/1.0' for a request line, else ''. */
export function sniffHttp(b: Buffer): string {
  const s = b.subarray(0, Math.min(b.length, 1024)).toString('latin1');
  if (s.startsWith('PRI * HTTP/2.0')) return 'h2c';
  const sp = s.indexOf(' ');
  if (sp < 0 || !METHODS.includes(s.slice(0, sp))) return '';
  const eol = s.indexOf('\r\n');
  const line = eol >= 0 ? s.slice(0, eol) : s;
  if (line.endsWith(' HTTP/1.1')) return 'http/1.1';
  if (line.endsWith(' HTTP/1.0')) return 'http/1.0';
  return eol >= 0 ? '' : 'http/1.1';
}

/**
 * The SO_ORIGINAL_DST addon itself: it is built, it loads, and getOriginalDst behaves on sockets that
 * were not redirected (the REDIRECT cases live in iptables-capture.test.ts, which needs root).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { getOriginalDst, loadSparNative, nativeAddonPath, originalDstAvailable, OriginalDstError } from '../../src/proxy/listener/original-dst.js';

const linux = process.platform === 'linux';

async function withConnection<T>(fn: (accepted: net.Socket) => T): Promise<T> {
  const server = net.createServer();
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const client = net.connect(port, '127.0.0.1');
  try {
    const sock = await accepted;
    try {
      return fn(sock);
    } finally {
      sock.destroy();
    }
  } finally {
    client.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('native SO_ORIGINAL_DST addon', { skip: linux ? undefined : 'SO_ORIGINAL_DST is Linux-only' }, () => {
  test('npm install built the addon and it loads', () => {
    assert.ok(existsSync(nativeAddonPath), `${nativeAddonPath} missing: run npm install (or node native/build.mjs)`);
    assert.equal(originalDstAvailable(), true);
  });

  test('a connection that was not redirected gives undefined or its own local address, never garbage', async () => {
    const got = await withConnection((sock) => ({ od: getOriginalDst(sock), local: { address: sock.localAddress, port: sock.localPort } }));
    if (got.od !== undefined) assert.deepEqual(got.od, got.local);
  });

  test('a destroyed socket gives undefined', async () => {
    const od = await withConnection((sock) => {
      sock.destroy();
      return getOriginalDst(sock);
    });
    assert.equal(od, undefined);
  });

  test('a missing addon is a clear error that says how to build it', () => {
    assert.throws(
      () => loadSparNative('/nonexistent/spar_native.node'),
      (e: unknown) => e instanceof OriginalDstError && e.code === 'SPAR_NATIVE_NOT_BUILT' && /npm install/.test(e.message) && /native\/build\.mjs/.test(e.message),
    );
  });

  test('a socket without a file descriptor is a clear error', () => {
    const sock = new net.Socket();
    assert.throws(() => getOriginalDst(sock), (e: unknown) => e instanceof OriginalDstError && e.code === 'SPAR_NO_FD');
  });
});

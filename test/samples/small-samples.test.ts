/**
 * tcp-echo (prefix per line, several ports), helloworld (/hello text) and sleep (runs until
 * stopped), started the way their images are.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { after, describe, test } from 'node:test';
import { sampleArgv } from '../../samples/images.js';
import { repoRoot } from '../../src/common/paths.js';
import { fromSource, http, startSample, stopAll } from './helpers.js';

/** Sends `input` to 127.0.0.1:port, half-closes, and returns everything received. */
function tcpExchange(port: number, input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port }, () => sock.end(input));
    let out = '';
    sock.on('data', (b: Buffer) => (out += b.toString('utf8')));
    sock.on('end', () => resolve(out));
    sock.on('error', reject);
  });
}

describe('small samples', { concurrency: true }, () => {
  after(stopAll);

  test('tcp-echo answers each line with "<prefix> <line>" on every port; a partial last line is dropped', async () => {
    const echo = await startSample('tcp-echo', { raw: true, args: ['--host', '127.0.0.1', '0,0', 'one'], listenLines: 2 });
    assert.equal(echo.ports.length, 2);
    assert.match(echo.output(), /listening on 127\.0\.0\.1:\d+, prefix: one\n/);
    assert.equal(await tcpExchange(echo.ports[0]!, 'hello\nport 9000\n'), 'one hello\none port 9000\n');
    assert.equal(await tcpExchange(echo.ports[1]!, 'world\nno newline'), 'one world\n');
  });

  test('tcp-echo without exactly two arguments prints its usage and exits 1', async () => {
    await assert.rejects(startSample('tcp-echo', { raw: true, args: ['9000'] }), /you should run it like/);
  });

  test('helloworld: "Hello version: v2, instance: <HOSTNAME>"', async () => {
    const hw = await startSample('helloworld', { env: { SERVICE_VERSION: 'v2', HOSTNAME: 'helloworld-v2-abc' } });
    const res = await http(hw.port, '/hello');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'Hello version: v2, instance: helloworld-v2-abc\n');
    assert.equal((await http(hw.port, '/health')).body, 'Helloworld is healthy');
    assert.equal((await http(hw.port, '/other')).status, 404);
  });

  test('sleep keeps running until SIGTERM, then ends', async () => {
    const argv = [...sampleArgv('sleep', { repoRoot, fromSource }), 'infinity'];
    const proc = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(proc.exitCode, null, 'still running');
      const exited = new Promise<string>((r) => proc.once('exit', (code, signal) => r(String(code ?? signal))));
      proc.kill('SIGTERM');
      // 0 once its handler is installed; SIGTERM if the signal beat the start-up on a loaded machine.
      assert.match(await exited, /^(0|SIGTERM)$/);
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
  });
});

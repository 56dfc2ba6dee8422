/**
 * Istio's tcp-echo server (samples/tcp-echo/src/main.go, image istio/tcp-echo-server): listens on
 * each of a comma-separated list of ports and answers every line it receives with
 * `<prefix> <line>`; a last line without a newline is dropped, as the Go server does.
 *   node main.js 9000,9001,9002 hello        (the image's default CMD is `9000 hello`)
 * `--host H` binds one address instead of all (tests); port 0 picks a free port, and the
 * `listening on <addr>, prefix: <prefix>` line tells which.
 */
import { createServer, type Socket } from 'node:net';
import { exitOnSignals, formatAddress, listen, parseCommonArgs, parsePort, runMain } from '../common/server.js';

function handleConnection(conn: Socket, prefix: string): void {
  let pending = Buffer.alloc(0);
  conn.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    let nl: number;
    while ((nl = pending.indexOf(0x0a)) !== -1) {
      const line = pending.subarray(0, nl + 1);
      pending = pending.subarray(nl + 1);
      process.stdout.write(`request: ${line.toString('utf8')}`);
      const reply = Buffer.concat([Buffer.from(`${prefix} `, 'utf8'), line]);
      process.stdout.write(`response: ${reply.toString('utf8')}`);
      conn.write(reply);
    }
  });
  conn.on('end', () => conn.end());
  conn.on('error', (err) => process.stdout.write(`failed to read data, err: ${err.message}\n`));
}

runMain(async () => {
  const args = parseCommonArgs(process.argv.slice(2));
  if (args.positional.length !== 2) {
    process.stdout.write("you should run it like: 'main [PORTS...] prefix' , please notice PORTS are comma-delineated , like  port 1[,port 2]  \n");
    process.exit(1);
  }
  const [portList, prefix] = args.positional as [string, string];
  const servers = [];
  for (const p of portList.split(',')) {
    const server = createServer((conn) => handleConnection(conn, prefix));
    const addr = await listen(server, parsePort(p, 'port'), args.host);
    process.stdout.write(`listening on ${formatAddress(addr)}, prefix: ${prefix}\n`);
    servers.push(server);
  }
  exitOnSignals(servers);
});

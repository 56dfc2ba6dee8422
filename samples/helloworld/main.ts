/**
 * Istio's helloworld (samples/helloworld/src/app.py, images examples-helloworld-v1/v2, which only
 * differ in SERVICE_VERSION): `GET /hello` → `Hello version: <SERVICE_VERSION>, instance: <HOSTNAME>`
 * after a deliberate burst of CPU work (the sample exists to demonstrate autoscaling);
 * `GET /health` → `Helloworld is healthy`. Port 5000 (gunicorn -b [::]:5000), or --port / argument.
 */
import { hostname } from 'node:os';
import { runMain, send, startHttpSample } from '../common/server.js';

const HTML = 'text/html; charset=utf-8';

/** The same arithmetic app.py does per request: a million square roots. */
function busyWork(): number {
  let x = 0.0001;
  for (let i = 0; i < 1_000_000; i++) x = x + Math.sqrt(x);
  return x;
}

runMain(() =>
  startHttpSample({
    name: 'helloworld',
    defaultPort: 5000,
    handler: (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const isGet = req.method === 'GET' || req.method === 'HEAD';
      if (path === '/hello' && isGet) {
        busyWork();
        // Python formats a missing variable as None.
        const version = process.env.SERVICE_VERSION ?? 'None';
        send(res, 200, HTML, `Hello version: ${version}, instance: ${process.env.HOSTNAME ?? hostname()}\n`);
      } else if (path === '/health' && isGet) {
        send(res, 200, HTML, 'Helloworld is healthy');
      } else {
        send(res, 404, HTML, '<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n');
      }
    },
  }),
);

/**
 * The main process of Istio's `sleep` / `curl` client pods (their YAML runs `/bin/sleep infinity`
 * in the curlimages/curl image): it does nothing until stopped, so that tests can run `curl`
 * inside the pod. `node main.js [infinity|SECONDS]`; SIGTERM/SIGINT end it at once (the pods set
 * terminationGracePeriodSeconds: 0).
 */
const arg = process.argv[2] ?? 'infinity';
const seconds = arg === 'infinity' ? Infinity : Number(arg.replace(/s$/, ''));
if (!Number.isFinite(seconds) && seconds !== Infinity) {
  process.stderr.write(`sleep: invalid time interval '${arg}'\n`);
  process.exit(1);
}
// A timer keeps the event loop alive; setTimeout's maximum is ~24.8 days, so re-arm.
const MAX_TIMER_MS = 2 ** 31 - 1;
let remainingMs = seconds * 1000;
const tick = (): void => {
  if (remainingMs <= 0) process.exit(0);
  const step = Math.min(remainingMs, MAX_TIMER_MS);
  remainingMs -= step;
  setTimeout(tick, step);
};
tick();
process.once('SIGTERM', () => process.exit(0));
process.once('SIGINT', () => process.exit(0));

/**
 * The proxy's own log (stderr), with Envoy's levels and line shape
 * (`[2026-01-01 00:00:00.000][info][upstream] text`). Levels change at runtime through /logging.
 * Nothing on the request path logs unless the level asks for it.
 */
export const LEVELS = ['trace', 'debug', 'info', 'warning', 'error', 'critical', 'off'] as const;
export type Level = (typeof LEVELS)[number];

let threshold = LEVELS.indexOf('info');

export function setLevel(l: string): boolean {
  const i = LEVELS.indexOf((l === 'warn' ? 'warning' : l) as Level);
  if (i < 0) return false;
  threshold = i;
  return true;
}
export function level(): Level {
  return LEVELS[threshold];
}
export function enabled(l: Level): boolean {
  return LEVELS.indexOf(l) >= threshold;
}

export function log(l: Level, scope: string, msg: string): void {
  if (LEVELS.indexOf(l) < threshold) return;
  const t = new Date().toISOString().replace('T', ' ').replace('Z', '');
  process.stderr.write(`[${t}][${l}][${scope}] ${msg}\n`);
}

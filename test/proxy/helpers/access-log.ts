/**
 * Reading the JSON-lines access logs the difference tests configure (one object per request,
 * keyed by a field such as `case` or `key`). Envoy flushes file logs about every second, so this
 * waits until every wanted key is there, or the timeout passes.
 */
import { existsSync, readFileSync } from 'node:fs';

export async function readJsonLog<T extends Record<string, unknown>>(path: string, keyField: string, wanted: Iterable<string>, timeoutMs = 6000): Promise<Map<string, T>> {
  const keys = [...wanted];
  const end = Date.now() + timeoutMs;
  for (;;) {
    const m = new Map<string, T>();
    if (existsSync(path)) {
      for (const line of readFileSync(path, 'utf8').split('\n')) {
        if (!line.trim()) continue;
        try {
          const j = JSON.parse(line) as T;
          m.set(String(j[keyField]), j);
        } catch {
          // a line still being written
        }
      }
    }
    if (keys.every((k) => m.has(k)) || Date.now() > end) return m;
    await new Promise((r) => setTimeout(r, 200));
  }
}

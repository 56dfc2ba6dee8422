/**
 * Push debouncing (Istio: PILOT_DEBOUNCE_AFTER / PILOT_DEBOUNCE_MAX). Change events are merged;
 * the merged request goes out once no event has arrived for `quietMs`, or `maxMs` after the first
 * event at the latest, so a storm of changes becomes one push context and one push.
 */
import type { PushRequest } from '../xds/server/generator.js';
import { mergePushRequests } from '../xds/server/push-queue.js';

export class Debouncer {
  private pending?: PushRequest;
  private firstAt = 0;
  private timer?: NodeJS.Timeout;
  /** Events merged into the pending request. */
  merged = 0;

  constructor(
    private readonly quietMs: number,
    private readonly maxMs: number,
    private readonly flush: (req: PushRequest, events: number, waitedMs: number) => void,
  ) {}

  add(req: PushRequest): void {
    const now = Date.now();
    if (!this.pending) {
      this.pending = req;
      this.firstAt = now;
      this.merged = 1;
    } else {
      this.pending = mergePushRequests(this.pending, req);
      this.merged++;
    }
    if (this.timer) clearTimeout(this.timer);
    if (this.quietMs <= 0) return this.fire();
    const wait = Math.max(0, Math.min(this.quietMs, this.firstAt + this.maxMs - now));
    this.timer = setTimeout(() => this.fire(), wait);
  }

  private fire(): void {
    const req = this.pending;
    const events = this.merged;
    this.pending = undefined;
    this.timer = undefined;
    if (req) this.flush(req, events, Date.now() - this.firstAt);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.pending = undefined;
  }
}

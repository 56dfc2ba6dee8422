/**
 * productpage's sign-in session, kept the way Flask keeps `session`: a cookie named `session`
 * holding the data and an HMAC over it, so every productpage replica (all share the secret) trusts
 * it and a client cannot forge another user. `/login` sets it; `/logout` expires it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export const SESSION_COOKIE = 'session';

/** Fixed like Flask's `app.secret_key` in productpage.py, so sessions survive restarts and replicas; override with PRODUCTPAGE_SESSION_SECRET. */
const secret = process.env.PRODUCTPAGE_SESSION_SECRET ?? 'spar-bookinfo-productpage';

export interface Session {
  user?: string;
}

function sign(payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url');
}

/** The cookie value for `session`. */
export function encodeSession(s: Session): string {
  const payload = Buffer.from(JSON.stringify(s), 'utf8').toString('base64url');
  return `${payload}.${sign(payload)}`;
}

/** The session a valid cookie carries; an absent, malformed or forged cookie is an empty session. */
export function decodeSession(value: string | undefined): Session {
  if (!value) return {};
  const dot = value.lastIndexOf('.');
  if (dot <= 0) return {};
  const payload = value.slice(0, dot);
  const given = Buffer.from(value.slice(dot + 1));
  const want = Buffer.from(sign(payload));
  if (given.length !== want.length || !timingSafeEqual(given, want)) return {};
  try {
    const s = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown;
    if (s === null || typeof s !== 'object') return {};
    const user = (s as Record<string, unknown>).user;
    return typeof user === 'string' ? { user } : {};
  } catch {
    return {};
  }
}

/** Cookie name → value from a request's Cookie header(s); the first of repeated names wins. */
export function parseCookies(headers: IncomingHttpHeaders): Map<string, string> {
  const out = new Map<string, string>();
  const raw = headers.cookie;
  if (!raw) return out;
  for (const part of raw.split(/;\s*/)) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (!out.has(name)) out.set(name, value);
  }
  return out;
}

/** The request's session. */
export function sessionOf(headers: IncomingHttpHeaders): Session {
  return decodeSession(parseCookies(headers).get(SESSION_COOKIE));
}

/** Set-Cookie for a session (Flask: HttpOnly, Path=/). */
export function setSessionCookie(s: Session): string {
  return `${SESSION_COOKIE}=${encodeSession(s)}; HttpOnly; Path=/`;
}

/** Set-Cookie that deletes the session (what Flask sends once the session is emptied). */
export function clearSessionCookie(): string {
  return `${SESSION_COOKIE}=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Path=/`;
}

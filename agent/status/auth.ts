/**
 * Operator authentication for the status page. The config keeps only an scrypt hash of the password
 * ("scrypt$N$r$p$salt$hash", base64url; RFC 7914 parameters). A login gives a session cookie (HttpOnly,
 * SameSite=Strict) and a CSRF token bound to the session, which the page sends back in a header on every
 * action (synchronizer token); the Origin of an action must be the page's own. Nothing secret is ever in the
 * page's HTML or scripts: the page learns the CSRF token from /status/session with its cookie.
 */
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { AgentError } from '../errors.js';

/** N=2^15, r=8, p=1: about 32 MiB and ~100 ms on a Pi 4; the OWASP minimum for scrypt is N=2^17 with r=8 at p=1, lowered for a Pi Zero's 512 MB. */
const DEFAULT = { N: 1 << 15, r: 8, p: 1 };
const KEYLEN = 32;

export function hashPassword(password: string, params = DEFAULT, salt = randomBytes(16)): string {
  if (password.length < 8) throw new AgentError('USAGE', 'the status page password is shorter than 8 characters', { fix: 'choose a longer password' });
  const key = scryptSync(password, salt, KEYLEN, { ...params, maxmem: 256 * params.N * params.r });
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export function verifyPassword(password: string, stored: string): boolean {
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(stored);
  if (!m) return false;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const want = Buffer.from(m[5]!, 'base64url');
  const got = scryptSync(password, Buffer.from(m[4]!, 'base64url'), want.length, { N, r, p, maxmem: 256 * N * r });
  return got.length === want.length && timingSafeEqual(got, want);
}

export interface Session {
  id: string;
  csrf: string;
  expires: number;
  operator: string;
}

export const SESSION_COOKIE = 'ea_session';

/** In-memory sessions (a restart logs everyone out, which is fine for a device page) and a login throttle. */
export class Sessions {
  private readonly sessions = new Map<string, Session>();
  private failures: number[] = [];

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  create(operator: string): Session {
    this.prune();
    const s: Session = { id: randomBytes(32).toString('base64url'), csrf: randomBytes(32).toString('base64url'), expires: this.now() + this.ttlMs, operator };
    this.sessions.set(s.id, s);
    return s;
  }

  fromRequest(req: IncomingMessage): Session | undefined {
    const id = cookie(req, SESSION_COOKIE);
    const s = id ? this.sessions.get(id) : undefined;
    if (!s) return undefined;
    if (s.expires < this.now()) {
      this.sessions.delete(s.id);
      return undefined;
    }
    return s;
  }

  drop(id: string): void {
    this.sessions.delete(id);
  }

  /** At most 5 wrong passwords a minute (for everyone): guessing stays slow, the operator waits a minute at worst. */
  throttled(): boolean {
    const t = this.now();
    this.failures = this.failures.filter((f) => t - f < 60_000);
    return this.failures.length >= 5;
  }

  failed(): void {
    this.failures.push(this.now());
  }

  private prune(): void {
    const t = this.now();
    for (const [id, s] of this.sessions) if (s.expires < t) this.sessions.delete(id);
  }
}

export function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

/** Same-origin check for actions: an Origin header (browsers send it on POST) must name the Host the page was loaded from. */
export function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true; // not a browser (curl with the token): the CSRF token still applies
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

export function constantEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

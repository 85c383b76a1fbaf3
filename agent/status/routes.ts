/**
 * The status page's HTTP routes as one request handler a Node http server calls before its own routes:
 *
 *   const status = createStatusHandler({ feed, actions, config: cfg.status, listen: cfg.health.listen, log });
 *   createServer((req, res) => { if (status(req, res)) return; ...own routes... });
 *
 * It answers `/` and everything under `/status/` and returns false for anything else (/healthz, /metrics).
 * Access: on 127.0.0.1 without a password the page can be viewed but no action taken; with status.passwordHash
 * set, everything but the page's own files needs a login; opened to the network without a password, it refuses
 * everything. Actions are POST + JSON + session + CSRF header + same Origin.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import type { StatusConfig } from '../config/sections/status.js';
import { constantEqual, isLoopback, sameOrigin, SESSION_COOKIE, Sessions, verifyPassword, type Session } from './auth.js';
import { loadPage, PAGE_FILES, type PageFile } from './assets.js';
import type { StatusFeed } from './feed.js';
import type { OperatorActions, StatusUpdate } from './source.js';

export interface StatusHandlerOptions {
  feed: StatusFeed;
  /** Absent: the page is view-only. */
  actions?: OperatorActions;
  config: StatusConfig;
  /** health.listen: decides whether the page is reachable from the network. */
  listen: string;
  log: Logger;
  /** Longest a frame request waits for a newer picture (ms). */
  frameWaitMs?: number;
}

export type StatusHandler = ((req: IncomingMessage, res: ServerResponse) => boolean) & { close(): void };

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};
const MAX_BODY = 16 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function createStatusHandler(o: StatusHandlerOptions): StatusHandler {
  const log = o.log.child({ component: 'status' });
  const page = loadPage();
  const sessions = new Sessions(o.config.sessionHours * 3_600_000);
  const host = o.listen.replace(/:\d+$/, '');
  const local = isLoopback(host);
  const hash = o.config.passwordHash;
  const closers = new Set<() => void>();
  if (!local && !hash) log.warn({ listen: o.listen }, 'the status page is reachable from the network but status.passwordHash is not set: it refuses every request until it is');

  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body), ...extra });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  };
  const json = (res: ServerResponse, status: number, body: unknown, extra?: Record<string, string>) => send(res, status, 'application/json', `${JSON.stringify(body)}\n`, extra);

  /** The session, or a refusal when this route needs one. */
  const access = (req: IncomingMessage): Session | undefined => {
    if (!local && !hash) throw new HttpError(403, 'the status page is reachable from the network without a password: set status.passwordHash in the config (node dist/agent/status/password.js prints one)');
    const s = sessions.fromRequest(req);
    if (hash && !s) throw new HttpError(401, 'log in first');
    return s;
  };

  const act = async (req: IncomingMessage): Promise<{ s: Session; body: Record<string, unknown> }> => {
    if (!hash) throw new HttpError(403, 'actions need an operator password: set status.passwordHash in the config (node dist/agent/status/password.js prints one)');
    const s = access(req);
    if (!s) throw new HttpError(401, 'log in first');
    if (!sameOrigin(req)) throw new HttpError(403, 'request from another site refused (Origin does not match)');
    const token = req.headers['x-csrf-token'];
    if (typeof token !== 'string' || !constantEqual(token, s.csrf)) throw new HttpError(403, 'missing or wrong CSRF token: reload the page');
    if (!o.actions) throw new HttpError(503, 'actions are not available in this agent');
    return { s, body: await readJson(req) };
  };

  const routes = async (req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> => {
    const method = req.method ?? 'GET';
    const get = method === 'GET' || method === 'HEAD';
    if (get && (path === '/' || path === '/index.html')) return send(res, 200, PAGE_FILES['index.html'], page['index.html']);
    const asset = /^\/status\/(app\.js|style\.css)$/.exec(path)?.[1] as PageFile | undefined;
    if (get && asset) return send(res, 200, PAGE_FILES[asset], page[asset]);

    if (path === '/status/login' && method === 'POST') {
      if (!hash) throw new HttpError(400, 'no password is configured (status.passwordHash): nothing to log in to');
      if (!sameOrigin(req)) throw new HttpError(403, 'request from another site refused (Origin does not match)');
      if (sessions.throttled()) throw new HttpError(429, 'too many wrong passwords: wait a minute');
      const body = await readJson(req);
      if (typeof body.password !== 'string' || !verifyPassword(body.password, hash)) {
        sessions.failed();
        log.warn({ from: req.socket.remoteAddress }, 'status page login refused: wrong password');
        throw new HttpError(401, 'wrong password');
      }
      const operator = typeof body.operator === 'string' && /^[\w .@-]{1,40}$/.test(body.operator) ? body.operator : `operator@${req.socket.remoteAddress ?? '?'}`;
      const s = sessions.create(operator);
      log.info({ operator, from: req.socket.remoteAddress }, 'status page login');
      return json(res, 200, { ok: true, csrf: s.csrf, operator }, { 'set-cookie': `${SESSION_COOKIE}=${s.id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.round(o.config.sessionHours * 3600)}` });
    }
    if (path === '/status/logout' && method === 'POST') {
      const s = sessions.fromRequest(req);
      if (s && sameOrigin(req) && req.headers['x-csrf-token'] === s.csrf) sessions.drop(s.id);
      return json(res, 200, { ok: true }, { 'set-cookie': `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0` });
    }
    if (path === '/status/session' && get) {
      if (!local && !hash) return json(res, 403, { error: 'the status page is reachable from the network without a password: set status.passwordHash in the config' });
      const s = sessions.fromRequest(req);
      return json(res, 200, { passwordSet: Boolean(hash), loggedIn: Boolean(s), canView: !hash || Boolean(s), canAct: Boolean(hash && s && o.actions), ...(s ? { csrf: s.csrf, operator: s.operator } : {}) });
    }
    if (path === '/status/state' && get) {
      access(req);
      return json(res, 200, o.feed.state());
    }
    if (path === '/status/events' && get) {
      access(req);
      return sse(req, res);
    }
    const frame = /^\/status\/frame\/([\w.-]+)\.jpg$/.exec(path);
    if (frame && get) {
      access(req);
      const live = o.feed.liveView(frame[1]!);
      if (!live) throw new HttpError(404, `no camera named "${frame[1]}"`);
      const ac = new AbortController();
      res.on('close', () => ac.abort());
      const f = await live.next(Number(query.get('after') ?? 0) || 0, Math.min(Number(query.get('wait') ?? o.frameWaitMs ?? 10_000) || 0, 30_000), ac.signal);
      if (res.destroyed) return;
      if (!f) return send(res, 204, 'text/plain; charset=utf-8', '');
      const meta = encodeURIComponent(JSON.stringify({ n: f.n, seq: f.seq, ts: f.ts, width: f.width, height: f.height, detections: f.detections, fired: f.fired }));
      return send(res, 200, 'image/jpeg', f.jpeg, { 'x-frame': meta });
    }
    const snap = /^\/status\/snapshot\/([\w-]+)\.jpg$/.exec(path);
    if (snap && get) {
      access(req);
      const jpeg = o.feed.snapshot(snap[1]!);
      if (!jpeg) throw new HttpError(404, 'no snapshot for this event (too old, or none was taken)');
      return send(res, 200, 'image/jpeg', jpeg);
    }
    if (path === '/status/output/test' && method === 'POST') {
      const { s, body } = await act(req);
      const r = await o.actions!.testOutput({ output: String(body.output ?? ''), mode: body.mode as 'pulse', ms: body.ms as number, operator: s.operator });
      return json(res, r.ok ? 200 : r.status, r.ok ? { ok: true, message: r.message } : { ok: false, error: r.message });
    }
    if (path === '/status/zone' && method === 'POST') {
      const { s, body } = await act(req);
      const r = await o.actions!.saveZone({ rule: String(body.rule ?? ''), polygon: body.polygon as Array<[number, number]>, test: (body.test ?? 'center') as 'center', configHash: String(body.configHash ?? ''), operator: s.operator });
      return json(res, r.ok ? 200 : r.status, r.ok ? { ok: true, message: r.message, configHash: r.configHash } : { ok: false, error: r.message });
    }
    if (path.startsWith('/status/') && !get && method !== 'POST') throw new HttpError(405, 'method not allowed');
    throw new HttpError(404, `not found: ${path}`);
  };

  /** Server-Sent Events: the whole state once, then each change. A client that cannot keep up gets the whole state again when it drains. */
  const sse = (req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream', connection: 'keep-alive' });
    let blocked = false;
    let missed = false;
    const write = (name: string, data: unknown): void => {
      if (blocked) {
        missed = true;
        return;
      }
      if (!res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`)) blocked = true;
    };
    res.on('drain', () => {
      blocked = false;
      if (missed) {
        missed = false;
        write('state', o.feed.state());
      }
    });
    write('state', o.feed.state());
    const unsubscribe = o.feed.subscribe((u: StatusUpdate) => write('update', u));
    const ping = setInterval(() => !blocked && res.write(': ping\n\n'), 15_000);
    ping.unref();
    const close = (): void => {
      clearInterval(ping);
      unsubscribe();
      closers.delete(close);
      res.end();
    };
    closers.add(close);
    req.on('close', close);
  };

  const handler = ((req: IncomingMessage, res: ServerResponse): boolean => {
    if (!o.config.enabled) return false;
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    if (path !== '/' && path !== '/index.html' && !path.startsWith('/status/')) return false;
    routes(req, res, path, url.searchParams).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) log.error({ err, path }, 'status page request failed');
      else if (status !== 401 || req.method === 'POST') log.warn({ path, status, from: req.socket.remoteAddress }, `status page refused ${req.method} ${path}: ${(err as Error).message}`);
      if (res.headersSent) return void res.end();
      json(res, status, { ok: false, error: status === 500 ? 'internal error (see the agent log)' : (err as Error).message });
    });
    return true;
  }) as StatusHandler;
  handler.close = () => {
    for (const c of [...closers]) c();
  };
  return handler;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'send the request as application/json');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'request too large');
    chunks.push(c as Buffer);
  }
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw new HttpError(400, 'the request body is not a JSON object');
  }
}

/**
 * The local HTTP endpoint: GET /healthz (200 only while frames flow, 503 otherwise, small JSON body) and
 * GET /metrics (Prometheus text 0.0.4). Bound to 127.0.0.1 by default: no authentication, so no remote access
 * unless the operator changes health.listen on purpose. The status page (agent/status, wired by
 * agent/app/status-wiring.ts) is asked first through intercept() and brings its own access rules.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AgentError } from '../errors.js';
import type { Logger } from '../log.js';
import { CONTENT_TYPE } from './exposition.js';

export interface HealthRoutes {
  /** [status code, JSON body] for /healthz. */
  healthz(): [number, Record<string, unknown>];
  /** Prometheus text for /metrics. */
  metrics(): string;
}

/** An extra GET route: status code, content type and body. */
export type Route = () => { status: number; type: string; body: string | Buffer };

/**
 * A handler asked first, for every request and method (the status page: `/` and `/status/*`, with its POST
 * actions): true when it took the request, false to leave it to the built-in routes.
 */
export type Intercept = (req: IncomingMessage, res: ServerResponse) => boolean;

/** Splits "host:port" (health.listen). Port 0 picks a free port (tests). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(.+):(\d+)$/.exec(listen);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 0 && port <= 65_535)) {
    throw new AgentError('CONFIG_INVALID', `health.listen "${listen}" is not host:port`, { fix: 'use e.g. 127.0.0.1:9464' });
  }
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

export class HealthServer {
  private server: Server | undefined;
  private readonly extra = new Map<string, Route>();
  private readonly intercepts: Intercept[] = [];

  constructor(
    private readonly listen: string,
    private readonly routes: HealthRoutes,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const { host, port } = parseListen(this.listen);
    const server = createServer((req, res) => this.handle(req, res));
    // A scraper that keeps connections open must not hold up shutdown.
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const fix =
          err.code === 'EADDRINUSE'
            ? 'another process uses this port (a second agent?): stop it or change health.listen'
            : err.code === 'EADDRNOTAVAIL'
              ? 'the host is not an address of this machine: use 127.0.0.1 or a local interface address'
              : 'check health.listen';
        reject(new AgentError('CONFIG_INVALID', `health endpoint cannot listen on ${this.listen} (${err.code ?? err.message})`, { fix, cause: err }));
      });
      server.listen(port, host, () => resolve());
    });
    server.on('error', (err) => this.log.error({ err }, 'health endpoint error'));
    // The frame loop decides when the process ends; a forgotten stop() must not keep it alive.
    server.unref();
    this.server = server;
    this.log.info({ url: this.url() }, 'health endpoint listening');
  }

  /** Adds a GET route (e.g. /status for the status page); /healthz and /metrics stay as they are. */
  route(path: string, handler: Route): void {
    if (path === '/healthz' || path === '/metrics') throw new AgentError('INTERNAL', `route ${path} is built in`);
    this.extra.set(path, handler);
  }

  /** Asks `fn` first for every request (before the GET/HEAD check); returns the function that removes it. */
  intercept(fn: Intercept): () => void {
    this.intercepts.push(fn);
    return () => {
      const i = this.intercepts.indexOf(fn);
      if (i >= 0) this.intercepts.splice(i, 1);
    };
  }

  /** http://host:port of the running server (with the real port when listen used port 0). */
  url(): string | undefined {
    const addr = this.server?.address() as AddressInfo | null | undefined;
    if (!addr) return undefined;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return `http://${host}:${addr.port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    try {
      for (const fn of this.intercepts) if (fn(req, res)) return;
    } catch (err) {
      this.log.error({ err, path }, 'health endpoint handler failed');
      this.send(req, res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    try {
      if (path === '/healthz') {
        const [code, body] = this.routes.healthz();
        this.send(req, res, code, 'application/json', `${JSON.stringify(body)}\n`);
      } else if (path === '/metrics') {
        this.send(req, res, 200, CONTENT_TYPE, this.routes.metrics());
      } else if (path && this.extra.has(path)) {
        const r = this.extra.get(path)!();
        this.send(req, res, r.status, r.type, r.body);
      } else if (path === '/') {
        this.send(req, res, 200, 'text/plain; charset=utf-8', `edge-agent: ${['/healthz', '/metrics', ...this.extra.keys()].join(' ')}\n`);
      } else {
        this.send(req, res, 404, 'text/plain; charset=utf-8', 'not found: try /healthz or /metrics\n');
      }
    } catch (err) {
      this.log.error({ err, path }, 'health endpoint handler failed');
      this.send(req, res, 500, 'text/plain; charset=utf-8', 'internal error\n');
    }
  }

  private send(req: IncomingMessage, res: ServerResponse, code: number, type: string, body: string | Buffer): void {
    res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}

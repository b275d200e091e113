/**
 * The live view's server (node:http): the page's files, the clients' merged streams as
 * Server-Sent Events (`/events`), the controls (`POST /api/action`) and a saved run to replay
 * (`/api/replay`). What `client web` and the cluster prompt (`npm start`) run.
 *
 * It subscribes to every client of the cluster through its control socket (feeds.ts), merges the
 * streams into one execution with vector clocks (live-merge.ts) and hands the result to every open
 * page (hub.ts). Every buffer on the way is bounded: a client never streams more than a fixed queue
 * to it, the merge holds a bounded number of early events, and each page a bounded number of items.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeCause } from '../base/errors.js';
import type { NodeId } from '../core/types.js';
import type { LiveStatus } from '../daemon/control/protocol.js';
import { type AccessRules, refusal } from './access.js';
import { type Processes, describeAction, parseAction, runAction } from './actions.js';
import { Demo } from './demo.js';
import { ClientFeeds } from './feeds.js';
import { type HubLimits, Hub } from './hub.js';
import type { StateItem } from './items.js';
import { LiveMerge, type LiveMergeOptions } from './live-merge.js';
import { RateCounter } from './rates.js';
import { ReplayCache, tracedDirs } from './replay.js';

/** Where the page's files are: `web/` at the top of the package, beside `dist/` and `src/`. */
export const PAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};
/** The page's own files only: a name, no directory, one of the types above. */
const PAGE_FILE = /^\/([a-z][a-z0-9-]*\.(?:html|js|css|svg))$/;
const MAX_BODY_BYTES = 16 * 1024;
/** Nothing but the page's own files and this server: the page fetches nothing from elsewhere. */
const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

export interface WebServerOptions {
  readonly nodes: readonly NodeId[];
  /** Client n's data dir: where its control socket and its trace are. */
  readonly dataDir: (id: NodeId) => string;
  /** Says which cluster this is, at the top of the page. */
  readonly title: string;
  /** Default 127.0.0.1; beyond loopback only with a token (see access.ts). */
  readonly host?: string;
  /** Default 0: a free port. */
  readonly port?: number;
  readonly token?: string | null;
  /** The clients' processes, when the caller started them; null for clients started elsewhere. */
  readonly processes?: Processes | null;
  /** Why there is no process control (shown on the page beside the disabled controls). */
  readonly noProcesses?: string;
  /** Replay these saved data dirs (or trace files) only: no live clients. */
  readonly replay?: readonly string[];
  /** Each control carried out, in one line (the cluster prompt prints it). */
  readonly onAction?: (line: string) => void;
  readonly demoPaceMs?: number;
  readonly hubLimits?: HubLimits;
  readonly mergeLimits?: LiveMergeOptions;
}

const NO_PROCESSES = 'these clients were started elsewhere: stop and start them where they run (npm start serves a page that can)';

export class WebServer {
  private readonly hub: Hub;
  private readonly merge: LiveMerge;
  private readonly rates = new RateCounter();
  private readonly feeds: ClientFeeds | null;
  private readonly demo: Demo | null;
  private readonly statuses = new Map<NodeId, LiveStatus | null>();
  /** /api/replay's answer, kept while the traces it was made from stay as they are. */
  private readonly replays = new ReplayCache();
  /** Why a client is not watched at all (its data dir answers as another client). */
  private readonly reasons = new Map<NodeId, string>();
  private readonly sentProcess = new Map<NodeId, string | null>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly access: AccessRules;
  private readonly host: string;

  private constructor(
    private readonly o: WebServerOptions,
    private readonly server: http.Server,
    port: number,
  ) {
    this.host = o.host ?? '127.0.0.1';
    this.access = { port, token: o.token ?? null };
    this.hub = new Hub(o.hubLimits);
    this.merge = new LiveMerge(o.nodes, (item) => {
      this.rates.count(item);
      this.hub.publish(item);
    }, o.mergeLimits);
    const live = o.replay === undefined;
    this.hub.setState('hello', {
      t: 'hello',
      instance: this.hub.instance,
      mode: live ? 'live' : 'replay',
      nodes: o.nodes,
      title: o.title,
      processes: o.processes ? { enabled: true, reason: '' } : { enabled: false, reason: o.noProcesses ?? NO_PROCESSES },
      replay: true,
    });
    this.feeds = live
      ? new ClientFeeds(o.nodes, o.dataDir, {
          events: (_node, events) => this.merge.push(events),
          status: (node, status, reason) => {
            this.statuses.set(node, status);
            if (reason === undefined) this.reasons.delete(node);
            else this.reasons.set(node, reason);
            if (status !== null) this.rates.traffic(node, status.traffic);
            this.sendStatus(node);
          },
          snapshot: (item) => this.hub.publish(item),
          dropped: (node, count) => this.hub.publish({ t: 'dropped', where: 'client', node, count }),
        })
      : null;
    this.demo = this.feeds === null ? null : new Demo({ feeds: this.feeds, nodes: o.nodes, publish: (item) => this.hub.publish(item), ...(o.demoPaceMs === undefined ? {} : { paceMs: o.demoPaceMs }) });
    let lastRates = Date.now();
    this.timers.push(
      setInterval(() => this.merge.tick(), 250),
      setInterval(() => {
        const now = Date.now();
        this.hub.setState('rates', this.rates.take(now - lastRates));
        lastRates = now;
        // A process that exits on its own says so here, whatever its stream said last.
        for (const id of o.nodes) if (this.processState(id) !== this.sentProcess.get(id)) this.sendStatus(id);
      }, 1000),
    );
    void this.feeds?.start();
  }

  static async start(o: WebServerOptions): Promise<WebServer> {
    let web: WebServer | null = null;
    const server = http.createServer((req, res) => {
      if (web === null) {
        res.writeHead(503).end();
        return;
      }
      web.handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(`live view: ${describeCause(e)}\n`);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    web = new WebServer(o, server, (server.address() as AddressInfo).port);
    return web;
  }

  get port(): number {
    return this.access.port;
  }

  /** The page's address; with a token, the token after `#`, where the page reads it and no server log sees it. */
  get url(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${host}:${this.port}/${this.access.token === null ? '' : `#token=${this.access.token}`}`;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.feeds?.close();
    this.hub.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The state of client `id` changed (its stream, its process): every page hears it. */
  sendStatus(id: NodeId): void {
    const process = this.processState(id);
    this.sentProcess.set(id, process);
    const status = this.statuses.get(id) ?? null;
    const item: StateItem = { t: 'status', node: id, connected: status !== null, process, status, reason: this.reasons.get(id) ?? null };
    this.hub.setState(`status:${id}`, item);
  }

  private processState(id: NodeId): string | null {
    return this.o.processes?.state(id) ?? null;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const api = url.pathname === '/events' || url.pathname.startsWith('/api/');
    const refused = refusal(req, url, this.access, api);
    if (refused !== null) {
      res.writeHead(refused.status, { 'Content-Type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS }).end(`${refused.message}\n`);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/events') return this.events(req, res);
    if (req.method === 'POST' && url.pathname === '/api/action') return this.action(req, res);
    if (req.method === 'GET' && url.pathname === '/api/replay') return this.replay(res);
    // The page asks first whether it may: beyond loopback, a wrong token is a 401 it can explain.
    if (req.method === 'GET' && url.pathname === '/api/hello') {
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', ...SECURITY_HEADERS }).end('{"ok":true}');
      return;
    }
    if (req.method === 'GET') return this.file(url.pathname === '/' ? '/index.html' : url.pathname, res);
    res.writeHead(405, { 'Content-Type': 'text/plain; charset=utf-8', Allow: 'GET, POST', ...SECURITY_HEADERS }).end('method not allowed\n');
  }

  private async file(name: string, res: http.ServerResponse): Promise<void> {
    const m = PAGE_FILE.exec(name);
    if (m === null) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS }).end('not found\n');
      return;
    }
    let body: Buffer;
    try {
      body = await readFile(path.join(PAGE_DIR, m[1]!));
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': CONTENT_TYPES[path.extname(m[1]!)] ?? 'application/octet-stream', ...SECURITY_HEADERS }).end(body);
  }

  private events(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive', 'X-Accel-Buffering': 'no', ...SECURITY_HEADERS });
    const last = req.headers['last-event-id'];
    const page = this.hub.attach(res, typeof last === 'string' ? last : null);
    req.on('close', () => this.hub.detach(page));
  }

  private async action(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const answer = (status: number, ok: boolean, text: string): void => {
      res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...SECURITY_HEADERS }).end(JSON.stringify({ ok, text }));
    };
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch (e) {
      answer(400, false, `not a JSON action: ${describeCause(e)}`);
      return;
    }
    const parsed = parseAction(body, this.o.nodes);
    if (!parsed.ok) {
      answer(400, false, parsed.error);
      return;
    }
    if (this.feeds === null) {
      answer(409, false, 'this page replays a saved run: there are no live clients to act on');
      return;
    }
    const a = parsed.action;
    const result = await runAction(a, {
      feeds: this.feeds,
      processes: this.o.processes ?? null,
      noProcesses: this.o.noProcesses ?? NO_PROCESSES,
      demo: () => this.demo!.run(),
    });
    const what = describeAction(a);
    this.hub.publish({ t: 'action', action: what, ok: result.ok, text: result.text });
    this.o.onAction?.(`${what}: ${result.text}`);
    if (a.action === 'stop' || a.action === 'start' || a.action === 'restart') this.sendStatus(a.client);
    answer(200, result.ok, result.text);
  }

  private async replay(res: http.ServerResponse): Promise<void> {
    const sources = this.o.replay ?? tracedDirs(this.o.nodes.map((id) => this.o.dataDir(id)));
    try {
      if (sources.length === 0) throw new Error('no client of this cluster has written a trace yet');
      const json = await this.replays.json(sources);
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', ...SECURITY_HEADERS }).end(json);
    } catch (e) {
      res.writeHead(404, { 'Content-Type': 'application/json; charset=utf-8', ...SECURITY_HEADERS }).end(JSON.stringify({ ok: false, text: describeCause(e) }));
    }
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > MAX_BODY_BYTES) {
        reject(new Error(`longer than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
      }
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

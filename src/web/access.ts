/**
 * Who may use the live view. Its controls move money and stop processes, so:
 *
 * - On loopback (the default), only this machine can connect; the server also checks the Host
 *   header (a web page elsewhere cannot reach it by rebinding a name of its own to 127.0.0.1) and
 *   that a control request is JSON from the page's own origin (a form on another site cannot post
 *   one, and a script there cannot without a CORS answer, which this server never gives).
 * - Beyond loopback, the cluster secret is required, as for the peers: every request for events
 *   or actions must carry a token derived from it (HKDF-SHA256), which `client web` prints in the
 *   page's address. The token, not the secret, travels: the page works over plain HTTP, so anyone
 *   who can read that traffic can use the token, but never learns the secret the peers' TLS
 *   channels are keyed with.
 */
import { hkdfSync, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** The token for the live view of cluster `cluster` with secret `secret`. */
export function webToken(secret: string, cluster: string): string {
  return Buffer.from(hkdfSync('sha256', secret, cluster, 'lamport-ledger live view token', 24)).toString('base64url');
}

export interface AccessRules {
  /** The port the server listens on: Host headers must name it. */
  readonly port: number;
  /** null: loopback only, no token; else every API request must carry it. */
  readonly token: string | null;
}

export type Refused = { readonly status: number; readonly message: string };

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

function sameToken(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The token a request carries: `Authorization: Bearer <token>` or `?token=` (EventSource cannot set headers). */
function tokenOf(req: IncomingMessage, url: URL): string | null {
  const auth = req.headers.authorization;
  if (auth !== undefined && auth.startsWith('Bearer ')) return auth.slice('Bearer '.length).trim();
  return url.searchParams.get('token');
}

/**
 * Null when the request may go on, else why not. `api`: it reads events or acts (the page's
 * files themselves hold nothing and are served to anyone who may connect).
 */
export function refusal(req: IncomingMessage, url: URL, rules: AccessRules, api: boolean): Refused | null {
  const host = req.headers.host ?? '';
  if (rules.token === null && !LOOPBACK_NAMES.some((name) => host === `${name}:${rules.port}`)) {
    return { status: 421, message: `this live view answers only to http://127.0.0.1:${rules.port}/ (Host was ${JSON.stringify(host)})` };
  }
  if (api && rules.token !== null) {
    const given = tokenOf(req, url);
    if (given === null || !sameToken(given, rules.token)) return { status: 401, message: 'this live view needs its token (client web prints it in the address, after #token=)' };
  }
  if (req.method === 'POST') {
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) return { status: 415, message: 'a control request is JSON (Content-Type: application/json)' };
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${host}`) return { status: 403, message: `a control request must come from the live view's own page, not ${origin}` };
  }
  return null;
}

/**
 * Who may use the live view, and what its controls accept: loopback pages answer only to their
 * own address and take control requests only as JSON from their own origin; beyond loopback every
 * request for events or actions needs the token derived from the cluster secret. Every malformed
 * action is one line, naming what is wrong.
 */
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { refusal, webToken } from '../../src/web/access.js';
import { parseAction } from '../../src/web/actions.js';

function request(o: { method?: string; host?: string; headers?: Record<string, string> }): IncomingMessage {
  return { method: o.method ?? 'GET', headers: { host: o.host ?? '127.0.0.1:8080', ...(o.headers ?? {}) } } as unknown as IncomingMessage;
}
const url = (p: string): URL => new URL(p, 'http://localhost');

describe('access to the live view', () => {
  const loopback = { port: 8080, token: null };

  it('on loopback answers to its own address under any loopback name, and to nothing else', () => {
    for (const host of ['127.0.0.1:8080', 'localhost:8080', '[::1]:8080']) expect(refusal(request({ host }), url('/events'), loopback, true)).toBeNull();
    // A name that resolves to 127.0.0.1 elsewhere (DNS rebinding) is not this page.
    expect(refusal(request({ host: 'evil.example:8080' }), url('/events'), loopback, true)).toMatchObject({ status: 421 });
    expect(refusal(request({ host: '127.0.0.1:9999' }), url('/'), loopback, false)).toMatchObject({ status: 421 });
  });

  it('takes a control request only as JSON from its own origin', () => {
    const post = (headers: Record<string, string>) => refusal(request({ method: 'POST', headers }), url('/api/action'), loopback, true);
    expect(post({ 'content-type': 'application/json' })).toBeNull();
    expect(post({ 'content-type': 'application/json', origin: 'http://127.0.0.1:8080' })).toBeNull();
    expect(post({ 'content-type': 'text/plain' })).toMatchObject({ status: 415 });
    expect(post({ 'content-type': 'application/x-www-form-urlencoded', origin: 'http://127.0.0.1:8080' })).toMatchObject({ status: 415 });
    expect(post({ 'content-type': 'application/json', origin: 'https://evil.example' })).toMatchObject({ status: 403 });
  });

  it('beyond loopback needs the token derived from the secret for events and actions, not for the page itself', () => {
    const token = webToken('a secret of the cluster!', 'prod');
    const rules = { port: 8080, token };
    const host = '10.0.0.5:8080';
    expect(refusal(request({ host }), url('/'), rules, false)).toBeNull();
    expect(refusal(request({ host }), url('/events'), rules, true)).toMatchObject({ status: 401 });
    expect(refusal(request({ host }), url(`/events?token=${token}`), rules, true)).toBeNull();
    expect(refusal(request({ host }), url('/events?token=wrong'), rules, true)).toMatchObject({ status: 401 });
    expect(refusal(request({ host, method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }), url('/api/action'), rules, true)).toBeNull();
    expect(refusal(request({ host, method: 'POST', headers: { authorization: `Bearer ${token}x`, 'content-type': 'application/json' } }), url('/api/action'), rules, true)).toMatchObject({ status: 401 });
  });

  it('derives one token per secret and cluster, which does not contain the secret', () => {
    const t = webToken('a secret of the cluster!', 'prod');
    expect(t).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(webToken('a secret of the cluster!', 'prod')).toBe(t);
    expect(webToken('a secret of the cluster?', 'prod')).not.toBe(t);
    expect(webToken('a secret of the cluster!', 'test')).not.toBe(t);
  });
});

describe('the actions a page may ask for', () => {
  const nodes = [1, 2, 3];

  it.each([
    [{ action: 'transfer', from: 1, to: 2, cents: 150 }, { action: 'transfer', from: 1, to: 2, cents: 150 }],
    [{ action: 'snapshot', from: 3 }, { action: 'snapshot', from: 3 }],
    [{ action: 'stop', client: 2 }, { action: 'stop', client: 2 }],
    [{ action: 'hold', from: 1, to: 3 }, { action: 'hold', from: 1, to: 3 }],
    [{ action: 'delay', from: 1, to: 3, ms: 0 }, { action: 'delay', from: 1, to: 3, ms: 0 }],
    [{ action: 'demo' }, { action: 'demo' }],
  ])('takes %j', (body, action) => {
    expect(parseAction(body, nodes)).toEqual({ ok: true, action });
  });

  it.each([
    [null, 'an action is a JSON object, e.g. {"action": "snapshot", "from": 1}'],
    [[1], 'an action is a JSON object, e.g. {"action": "snapshot", "from": 1}'],
    [{ action: 'explode' }, 'unknown action "explode" (transfer, snapshot, stop, start, restart, hold, release, delay, demo)'],
    [{ action: 'transfer', from: 1, to: 1, cents: 5 }, 'transfer: "from" and "to" must be two different clients, got 1 twice'],
    [{ action: 'transfer', from: 1, to: 9, cents: 5 }, 'transfer: "to" must be one of the clients 1, 2, 3'],
    [{ action: 'transfer', from: 1, to: 2, cents: 1.5 }, 'transfer: "cents" must be a positive whole number of cents'],
    [{ action: 'transfer', from: 1, to: 2, cents: -5 }, 'transfer: "cents" must be a positive whole number of cents'],
    [{ action: 'transfer', from: '1', to: 2, cents: 5 }, 'transfer: "from" must be one of the clients 1, 2, 3'],
    [{ action: 'stop' }, 'stop: "client" must be one of the clients 1, 2, 3'],
    [{ action: 'delay', from: 1, to: 2, ms: 60_001 }, 'delay: "ms" must be a whole number of milliseconds from 0 (none) to 60000'],
  ])('refuses %j', (body, error) => {
    expect(parseAction(body, nodes)).toEqual({ ok: false, error });
  });
});

/**
 * The --json form of every answer: one JSON value per command, amounts in integer cents. Scripts
 * read these, so their shapes stay as the docs show them.
 */
import type { Answer } from './interpret.js';
import { COMMANDS } from './parse.js';
import { CLEAR_ELSEWHERE, TRACE_ELSEWHERE, missingSnapshot } from './render.js';

export function answerJson(a: Answer): unknown {
  switch (a.type) {
    case 'empty':
      return {};
    case 'invalid':
      return { ok: false, error: a.error };
    case 'exitRefused':
      return { ok: false, error: 'exit is not available over the control socket' };
    case 'transfer':
      return a.result;
    case 'tx':
      return a.state;
    case 'balances':
      return { balances: a.view.balances, height: a.view.height, head: a.view.head };
    case 'balance':
      return { client: a.client, balance: a.view.balances[String(a.client)] ?? 0, height: a.view.height };
    case 'snapshot':
      return a.answer.ok ? { ok: a.answer.record.verified, ...a.answer.record } : a.answer;
    case 'snapshots':
      return a.listing;
    case 'savedSnapshot':
      if (a.record === null) return { ok: false, error: missingSnapshot(a.id) };
      return a.page === undefined ? a.record : { ...a.record, page: a.page };
    case 'chain':
      return a.view;
    case 'peers':
      return a.view;
    case 'status':
      return a.view.node;
    case 'links':
      return a.view;
    case 'help':
      return { commands: a.topic === null ? COMMANDS : COMMANDS.filter((c) => c.name === a.topic) };
    case 'traceElsewhere':
      return { ok: false, error: TRACE_ELSEWHERE };
    case 'clearElsewhere':
      return { ok: false, error: CLEAR_ELSEWHERE };
  }
}

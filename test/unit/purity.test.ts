/**
 * src/core is a deterministic state machine, so that the simulator can replay any run: it imports
 * nothing but itself and node:crypto, and never touches sockets, files, timers, the wall clock,
 * randomness or the process.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { isSourceFile, listFiles, moduleSpecifiers, parseSource } from './imports.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CORE = join(ROOT, 'src', 'core');

const FORBIDDEN_MODULES = [
  'node:net', 'net',
  'node:fs', 'fs', 'fs/promises', 'node:fs/promises',
  'timers', 'node:timers', 'timers/promises', 'node:timers/promises',
  'readline', 'node:readline', 'readline/promises', 'node:readline/promises',
  'child_process', 'node:child_process',
  'http', 'node:http', 'https', 'node:https', 'http2', 'node:http2',
  'tls', 'node:tls',
  'os', 'node:os',
  'dgram', 'node:dgram',
  'worker_threads', 'node:worker_threads',
];
const ALLOWED_EXTERNAL = new Set(['node:crypto']);

/** Mentions forbidden in code (comments are prose and may say "every other process."). */
const FORBIDDEN_MENTIONS: [string, RegExp][] = [
  ['Date.now', /\bDate\s*\.\s*now\b/],
  ['new Date', /\bnew\s+Date\b/],
  ['Math.random', /\bMath\s*\.\s*random\b/],
  ['performance.now', /\bperformance\s*\.\s*now\b/],
  ['process.', /\bprocess\s*(\.|\?\.|\[)/],
  ['setTimeout', /\bsetTimeout\b/],
  ['setInterval', /\bsetInterval\b/],
  ['setImmediate', /\bsetImmediate\b/],
  ['queueMicrotask', /\bqueueMicrotask\b/],
];

/** The violations of the purity rules in one file of src/core (path absolute). */
function violations(path: string, text: string): string[] {
  const problems: string[] = [];
  const sf = parseSource(path, text);
  for (const spec of moduleSpecifiers(sf)) {
    if (FORBIDDEN_MODULES.includes(spec)) {
      problems.push(`imports the forbidden module '${spec}'`);
      continue;
    }
    if (spec.startsWith('.')) {
      const target = resolve(dirname(path), spec);
      if (target !== CORE && !target.startsWith(CORE + sep)) problems.push(`imports '${spec}', outside src/core`);
    } else if (!ALLOWED_EXTERNAL.has(spec)) {
      problems.push(`imports '${spec}': only node:crypto may come from outside src/core`);
    }
  }
  // The code with comments removed, strings kept: a forbidden name in a string still counts.
  const code = ts.createPrinter({ removeComments: true }).printFile(sf);
  for (const [name, re] of FORBIDDEN_MENTIONS) if (re.test(code)) problems.push(`mentions ${name}`);
  return problems;
}

describe('src/core purity', () => {
  const files = listFiles(CORE).filter(isSourceFile);

  it('scans every source file of src/core (at least 8)', () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
    for (const name of [
      'clock.ts', 'messages.ts', 'mutex.ts', 'ledger.ts', 'snapshot.ts', 'node.ts', 'describe.ts', 'types.ts',
      'membership.ts', 'replication.ts', 'snapshot-coordinator.ts', 'transfers.ts', 'policy.ts',
    ]) {
      expect(files.map((f) => relative(CORE, f))).toContain(name);
    }
  });

  it('has no non-source files hiding in src/core that this scan would miss', () => {
    const others = listFiles(CORE).filter((p) => !files.includes(p));
    expect(others.map((p) => relative(ROOT, p))).toEqual([]);
  });

  it('imports nothing from outside src/core but node:crypto, and no I/O, timers, clock, randomness or process', () => {
    const report: Record<string, string[]> = {};
    for (const f of files) {
      const v = violations(f, readFileSync(f, 'utf8'));
      if (v.length > 0) report[relative(ROOT, f)] = v;
    }
    expect(report).toEqual({});
  });

  it('actually imports something in src/core (the import scan sees real imports)', () => {
    const all = files.flatMap((f) => moduleSpecifiers(parseSource(f, readFileSync(f, 'utf8'))));
    expect(all).toContain('node:crypto');
    expect(all.filter((s) => s.startsWith('./')).length).toBeGreaterThan(8);
  });
});

describe('the purity checker itself', () => {
  const at = join(CORE, 'example.ts');
  it.each([
    ["import net from 'node:net';", 'node:net'],
    ["import { createServer } from 'net';", 'net'],
    ["import * as fs from 'node:fs';", 'node:fs'],
    ["import { readFile } from 'fs/promises';", 'fs/promises'],
    ["import { setTimeout as sleep } from 'node:timers/promises';", 'timers'],
    ["export { x } from 'os';", 'os'],
    ["const cp = require('child_process');", 'child_process'],
    ["const w = await import('worker_threads');", 'worker_threads'],
    ["import type { Socket } from 'dgram';", 'dgram'],
    ["import { Mesh } from '../net/mesh.js';", '../net/mesh.js'],
    ["import { run } from '../daemon/daemon.js';", '../daemon/daemon.js'],
    ["import pino from 'pino';", 'pino'],
    ["import { x } from './../core-evil/x.js';", 'core-evil'],
    ['const t = Date.now();', 'Date.now'],
    ['const r = Math.random();', 'Math.random'],
    ['const p = performance.now();', 'performance.now'],
    ['const e = process.env.HOME;', 'process.'],
    ['const e = process?.argv;', 'process.'],
    ["setTimeout(() => {}, 1);", 'setTimeout'],
    ["const h = setInterval(f, 1);", 'setInterval'],
    ['setImmediate(f);', 'setImmediate'],
    ['queueMicrotask(f);', 'queueMicrotask'],
  ])('flags %s', (source, what) => {
    const v = violations(at, source);
    expect(v.length).toBeGreaterThan(0);
    expect(v.join('; ')).toContain(what.replace(/^\.\.?\//, ''));
  });

  it.each([
    "import { createHash } from 'node:crypto';",
    "import type { Block } from './types.js';",
    "import { x } from './sub/dir.js';",
    '/** Rule 5: ... from every other process. Never Date.now() or setTimeout here. */ export const a = 1;',
    '// process.env is read by the daemon, not here\nexport const b = 2;',
    'const processed = 1; const subprocess = { x: 1 }; subprocess.x;',
  ])('does not flag %s', (source) => {
    expect(violations(at, source)).toEqual([]);
  });
});

/**
 * The README's "real output" blocks against a fresh run of each walkthrough (`walkthroughs.ts`).
 * A block that drifts fails here with both versions; `npm run readme` (UPDATE_README=1) rewrites
 * the blocks, and the snapshot diagram, from the run instead.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, noTerminal } from '../e2e/harness.js';
import { comparable, readBlocks, replaceBlocks } from './blocks.js';
import { Stage, walkthroughs } from './walkthroughs.js';

const README = path.join(ROOT, 'README.md');
const update = process.env.UPDATE_README === '1';
const missing = noTerminal();
if (missing !== null && process.env.CI === 'true') throw new Error(`the README walkthroughs need a pseudo-terminal under CI: ${missing}`);
if (missing !== null) console.warn(`README walkthroughs skipped: ${missing}`);

const produced = new Map<string, string>();

afterAll(() => {
  if (!update || produced.size === 0) return;
  writeFileSync(README, replaceBlocks(readFileSync(README, 'utf8'), produced));
});

describe.skipIf(missing !== null)('README walkthroughs are what the project prints', () => {
  const blocks = readBlocks(readFileSync(README, 'utf8'));

  for (const w of walkthroughs) {
    it(w.name, { timeout: 120_000 }, async () => {
      const stage = await Stage.create();
      try {
        const out = await w.run(stage);
        for (const [name, text] of Object.entries(out.blocks)) {
          if (update) {
            produced.set(name, text);
            continue;
          }
          const block = blocks.get(name);
          expect(block, `README has no <!-- walkthrough: ${name} --> block`).toBeDefined();
          const o = { numbers: out.loose?.includes(name) === true };
          expect(comparable(text, o), `README block ${name} differs from a fresh run (npm run readme rewrites it); the run printed:\n${text}\n`).toBe(comparable(block!.text, o));
        }
        if (update) for (const [file, make] of Object.entries(out.files ?? {})) await make(path.join(ROOT, file));
      } finally {
        await stage.close();
      }
    });
  }
});

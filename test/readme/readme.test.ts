/**
 * The "real output" blocks of the README and of docs/*.md against a fresh run of each walkthrough
 * (`walkthroughs.ts`). A block that drifts fails here with both versions; `npm run readme`
 * (UPDATE_README=1) rewrites the blocks, and the pictures, from the run instead. Every marked
 * block must be made by some walkthrough, and a name is used once across all the documents.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, noTerminal } from '../e2e/harness.js';
import { comparable, readAllBlocks, readDocuments, replaceBlocks } from './blocks.js';
import { Stage, walkthroughs } from './walkthroughs.js';

const update = process.env.UPDATE_README === '1';
const missing = noTerminal();
if (missing !== null && process.env.CI === 'true') throw new Error(`the README walkthroughs need a pseudo-terminal under CI: ${missing}`);
if (missing !== null) console.warn(`README walkthroughs skipped: ${missing}`);

const documents = readDocuments(ROOT);
const blocks = readAllBlocks(documents);
/** Block name -> the text a run made, to be written (UPDATE_README=1). */
const produced = new Map<string, string>();
/** Names of the blocks some walkthrough made, written or compared. */
const made = new Set<string>();

afterAll(() => {
  if (!update || produced.size === 0) return;
  for (const [file, text] of documents) {
    const bodies = new Map([...produced].filter(([name]) => blocks.get(name)?.file === file));
    if (bodies.size > 0) writeFileSync(path.join(ROOT, file), replaceBlocks(text, bodies, file));
  }
});

describe.skipIf(missing !== null)('the documents\' walkthroughs are what the project prints', () => {
  for (const w of walkthroughs) {
    it(w.name, { timeout: 120_000 }, async () => {
      const stage = await Stage.create();
      try {
        const out = await w.run(stage);
        for (const [name, text] of Object.entries(out.blocks)) {
          made.add(name);
          const block = blocks.get(name);
          expect(block, `no document has a <!-- walkthrough: ${name} --> block`).toBeDefined();
          if (update) {
            produced.set(name, text);
            continue;
          }
          const o = { numbers: out.loose?.includes(name) === true, anyOrder: out.anyOrder?.includes(name) === true };
          expect(comparable(text, o), `${block!.file}: block ${name} differs from a fresh run (npm run readme rewrites it); the run printed:\n${text}\n`).toBe(comparable(block!.text, o));
        }
        if (update) for (const [file, make] of Object.entries(out.files ?? {})) await make(path.join(ROOT, file));
      } finally {
        await stage.close();
      }
    });
  }

  // Runs after the walkthroughs (vitest runs a file's tests in order).
  it('every marked block is made by a walkthrough', () => {
    const orphans = [...blocks.values()].filter((b) => !made.has(b.name)).map((b) => `${b.file}: ${b.name}`);
    expect(orphans, 'blocks no walkthrough makes (a walkthrough renamed or removed?)').toEqual([]);
  });
});

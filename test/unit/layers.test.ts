/**
 * Layers that only point down: every import in src/ goes from a layer to one below it (or within
 * itself), and no two files import each other, directly or round a longer loop. A failure names
 * the file, the import and the rule it breaks.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isSourceFile, listFiles, moduleSpecifiers, parseSource } from './imports.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = join(ROOT, 'src');

/**
 * Each layer (a folder of src/) and the layers it may import, bottom up. Beside the cli stand
 * the cluster spawner, the benchmark, the trace viewer and the live view's server: they may use
 * the daemon but not the cli, and the cli may use them (the live view also reads saved runs
 * through the trace viewer). The cli reaches the network only through the daemon; the
 * benchmark may use the network's framing directly, because its baseline measures exactly that.
 */
export const LAYERS: Readonly<Record<string, readonly string[]>> = {
  base: [],
  core: ['base'],
  net: ['base', 'core'],
  daemon: ['base', 'core', 'net'],
  cluster: ['base', 'core', 'daemon'],
  trace: ['base', 'core', 'daemon'],
  bench: ['base', 'core', 'net', 'daemon', 'cluster'],
  web: ['base', 'core', 'daemon', 'trace'],
  cli: ['base', 'core', 'daemon', 'cluster', 'bench', 'trace', 'web'],
};

/** Packages a layer must not use, whatever its arrows: the daemon knows nothing of command lines or prompts. */
const FORBIDDEN_PACKAGES: Readonly<Record<string, readonly string[]>> = {
  daemon: ['commander', 'readline-sync', 'readline', 'node:readline', 'readline/promises', 'node:readline/promises'],
};

/** The base layer depends on nothing: Node's own modules at most. */
const dependencyFree = (layer: string): boolean => layer === 'base';

/** One source file: its path under src/ (with `/`) and the specifiers it imports. */
export interface SourceImports {
  readonly file: string;
  readonly imports: readonly string[];
}

const layerOf = (file: string): string | null => {
  const [first, ...rest] = file.split('/');
  return rest.length > 0 && first !== undefined && first in LAYERS ? first : null;
};

/** A relative specifier resolved to the file it names under src/ (`../cli/parse.js` from `daemon/daemon.ts` -> `cli/parse.ts`). */
function target(from: string, spec: string): string {
  return posix.normalize(posix.join(posix.dirname(from), spec)).replace(/\.js$/, '.ts');
}

/** Every import that breaks a layer rule, one line each, naming the file and the import. */
export function wrongArrows(files: readonly SourceImports[]): string[] {
  const problems: string[] = [];
  for (const { file, imports } of files) {
    const layer = layerOf(file);
    if (layer === null) {
      problems.push(`src/${file} is in no layer (put it in one of ${Object.keys(LAYERS).join(', ')})`);
      continue;
    }
    const allowed = LAYERS[layer] ?? [];
    for (const spec of new Set(imports)) {
      if (spec.startsWith('.')) {
        const to = target(file, spec);
        if (to.startsWith('../')) {
          problems.push(`src/${file} imports '${spec}', outside src/`);
          continue;
        }
        const toLayer = layerOf(to);
        if (toLayer === null) problems.push(`src/${file} imports '${spec}' (src/${to} is in no layer)`);
        else if (toLayer !== layer && !allowed.includes(toLayer)) {
          problems.push(`src/${file} imports '${spec}': ${layer} -> ${toLayer} points ${allowed.length === 0 ? 'out of a layer that may import nothing' : `the wrong way (${layer} may import ${allowed.join(', ')})`}`);
        }
      } else if ((FORBIDDEN_PACKAGES[layer] ?? []).includes(spec)) {
        problems.push(`src/${file} imports '${spec}': the ${layer} layer must not use it`);
      } else if (dependencyFree(layer) && !spec.startsWith('node:')) {
        problems.push(`src/${file} imports '${spec}': the ${layer} layer depends on no package`);
      }
    }
  }
  return problems;
}

/** Every import cycle among the files, one line each (`a.ts -> b.ts -> a.ts`), found by Tarjan's algorithm. */
export function importCycles(files: readonly SourceImports[]): string[] {
  const known = new Set(files.map((f) => f.file));
  const edges = new Map(files.map((f) => [f.file, [...new Set(f.imports.filter((s) => s.startsWith('.')).map((s) => target(f.file, s)).filter((t) => known.has(t)))]]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    for (let w = stack.pop(); w !== undefined; w = stack.pop()) {
      onStack.delete(w);
      component.push(w);
      if (w === v) break;
    }
    const selfLoop = (edges.get(v) ?? []).includes(v);
    if (component.length > 1 || selfLoop) cycles.push(`import cycle: ${loopThrough(component.sort(), edges).map((f) => `src/${f}`).join(' -> ')}`);
  };
  for (const f of [...known].sort()) if (!index.has(f)) visit(f);
  return cycles;
}

/** One loop through a strongly connected component, from its first file back to it. */
function loopThrough(component: readonly string[], edges: ReadonlyMap<string, readonly string[]>): string[] {
  const members = new Set(component);
  const start = component[0]!;
  // Breadth-first from start back to start, inside the component: the shortest loop.
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of edges.get(v) ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [v];
        for (let p = previous.get(v); p !== undefined; p = previous.get(p)) path.unshift(p);
        if (path[0] !== start) path.unshift(start);
        return [...path, start];
      }
      if (!previous.has(w) && w !== start) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return [...component, start];
}

function readSources(): SourceImports[] {
  return listFiles(SRC)
    .filter(isSourceFile)
    .map((p) => ({ file: relative(SRC, p).split(sep).join('/'), imports: moduleSpecifiers(parseSource(p, readFileSync(p, 'utf8'))) }));
}

describe('the layers of src/', () => {
  const sources = readSources();

  it('sees the files and imports of every layer', () => {
    const layers = new Set(sources.map((s) => layerOf(s.file)));
    for (const layer of ['core', 'net', 'daemon', 'cli', 'bench', 'trace', 'web']) expect(layers).toContain(layer);
    expect(sources.flatMap((s) => s.imports).filter((s) => s.startsWith('../')).length).toBeGreaterThan(20);
  });

  it('only point down: every import goes to the same layer or one it may use', () => {
    expect(wrongArrows(sources)).toEqual([]);
  });

  it('hold no import cycle', () => {
    expect(importCycles(sources)).toEqual([]);
  });
});

describe('the layer checker itself', () => {
  /** The wrong arrows src/ had before it was layered; each must be caught. */
  it.each([
    ['daemon/daemon.ts', '../cli/parse.js', 'daemon -> cli'],
    ['daemon/daemon.ts', '../cli/render.js', 'daemon -> cli'],
    ['bench/cluster.ts', '../cli/cluster.js', 'bench -> cli'],
    ['cli/render.ts', '../net/mesh.js', 'cli -> net'],
    ['cli/main.ts', '../net/auth.js', 'cli -> net'],
    ['cli/main.ts', '../net/errors.js', 'cli -> net'],
    ['net/errors.ts', '../daemon/config.js', 'net -> daemon'],
    ['core/node.ts', '../net/mesh.js', 'core -> net'],
    ['base/errors.ts', '../core/types.js', 'out of a layer that may import nothing'],
    ['trace/run.ts', '../cli/main.js', 'trace -> cli'],
    ['cluster/spawn.ts', '../bench/index.js', 'cluster -> bench'],
    ['web/server.ts', '../cli/web.js', 'web -> cli'],
    ['web/server.ts', '../net/mesh.js', 'web -> net'],
    ['web/actions.ts', '../cluster/spawner.js', 'web -> cluster'],
  ])('flags src/%s importing %s', (file, spec, rule) => {
    const problems = wrongArrows([{ file, imports: [spec] }]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`src/${file} imports '${spec}'`);
    expect(problems[0]).toContain(rule);
  });

  it('flags a file in no layer, an import out of src/, and packages a layer must not use', () => {
    expect(wrongArrows([{ file: 'errors.ts', imports: [] }])).toEqual(['src/errors.ts is in no layer (put it in one of base, core, net, daemon, cluster, trace, bench, web, cli)']);
    expect(wrongArrows([{ file: 'cli/main.ts', imports: ['../errors.js'] }])[0]).toContain("imports '../errors.js' (src/errors.ts is in no layer)");
    expect(wrongArrows([{ file: 'cli/main.ts', imports: ['../../test/x.js'] }])[0]).toContain('outside src/');
    expect(wrongArrows([{ file: 'daemon/daemon.ts', imports: ['commander'] }])[0]).toContain("src/daemon/daemon.ts imports 'commander'");
    expect(wrongArrows([{ file: 'base/errors.ts', imports: ['pino'] }])[0]).toContain('depends on no package');
  });

  it('lets arrows point down, within a layer, and to the layers beside the cli', () => {
    const fine: SourceImports[] = [
      { file: 'base/errors.ts', imports: ['node:util'] },
      { file: 'net/errors.ts', imports: ['../base/errors.js', '../core/types.js'] },
      { file: 'daemon/daemon.ts', imports: ['../net/mesh.js', './control/server.js', 'pino'] },
      { file: 'daemon/control/server.ts', imports: ['../api.js', '../../base/errors.js', 'node:net'] },
      { file: 'cli/main.ts', imports: ['../daemon/daemon.js', '../bench/index.js', '../trace/command.js', '../cluster/spawn.js', 'commander'] },
      { file: 'bench/cluster.ts', imports: ['../cluster/spawn.js', '../daemon/control/client.js'] },
    ];
    expect(wrongArrows(fine)).toEqual([]);
  });

  it('names every cycle with a loop through it, type-only imports included', () => {
    const files: SourceImports[] = [
      { file: 'daemon/control.ts', imports: ['./daemon.js'] },
      { file: 'daemon/daemon.ts', imports: ['./control.js', './config.js'] },
      { file: 'daemon/config.ts', imports: [] },
      { file: 'cli/a.ts', imports: ['./b.js'] },
      { file: 'cli/b.ts', imports: ['./c.js'] },
      { file: 'cli/c.ts', imports: ['./a.js'] },
    ];
    expect(importCycles(files)).toEqual([
      'import cycle: src/cli/a.ts -> src/cli/b.ts -> src/cli/c.ts -> src/cli/a.ts',
      'import cycle: src/daemon/control.ts -> src/daemon/daemon.ts -> src/daemon/control.ts',
    ]);
    expect(importCycles(files.filter((f) => f.file !== 'cli/c.ts' && f.file !== 'daemon/control.ts'))).toEqual([]);
  });
});

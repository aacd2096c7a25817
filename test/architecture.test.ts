// The layers of docs/architecture.md, checked on the import graph: a module imports only
// from its own layer or the ones below it (table and block do not know each other; the
// website endpoint serves objects the way GetObject does, so web sits on api).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SRC = resolve(import.meta.dirname, '../src');
// Rank of each top-level directory of src/ (a file directly in src/ is the top).
const RANK: Record<string, number> = {
  util: 0,
  db: 1,
  net: 2,
  rpc: 3,
  table: 4,
  block: 4,
  model: 5,
  admin: 6,
  api: 7,
  cli: 7,
  web: 8,
  '': 9,
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function layer(file: string): string {
  const rel = relative(SRC, file).split('/');
  return rel.length === 1 ? '' : rel[0]!;
}

test('every import in src/ points to its own layer or a lower one', () => {
  const bad: string[] = [];
  for (const f of files(SRC)) {
    const from = layer(f);
    assert.ok(from in RANK, `${relative(SRC, f)}: directory ${from} is not a layer of docs/architecture.md`);
    for (const m of readFileSync(f, 'utf8').matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'/gm)) {
      const to = layer(resolve(dirname(f), m[1]!));
      const ok = to === from || (RANK[to]! < RANK[from]! && !(RANK[to] === 4 && RANK[from] === 4));
      if (!ok) bad.push(`${relative(SRC, f)} (${from || 'top'}) imports ${m[1]} (${to || 'top'})`);
    }
  }
  assert.deepEqual(bad, []);
});

#!/usr/bin/env node
// `npm run docs` (after `npm run build`): writes the generated pages
// (docs/configuration-reference.md, docs/cli.md, config/setup.schema.json) from
// the compiled schemas and commands, and says which changed. test/docs.test.ts
// fails when a committed one differs from what this writes.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { generatedDocs } = await import(join(root, 'dist', 'src', 'cli', 'docs.js'));
for (const [path, content] of Object.entries(generatedDocs())) {
  const file = join(root, path);
  const before = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  if (before === content) {
    process.stdout.write(`${path}: unchanged\n`);
    continue;
  }
  writeFileSync(file, content);
  process.stdout.write(`${path}: written\n`);
}

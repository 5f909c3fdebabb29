import { renderConfigReference } from '../config/reference.js';
import { setupJsonSchema } from '../config/schema.js';
import { renderCliReference } from './reference.js';

/*
 * Every file `npm run docs` writes (scripts/docs.mjs), by its path in the
 * repository. They are generated where prose would drift from the code;
 * test/docs.test.ts compares each with what is committed.
 */
export function generatedDocs(): Record<string, string> {
  return {
    'docs/configuration-reference.md': renderConfigReference(),
    'docs/cli.md': renderCliReference(),
    'config/setup.schema.json': `${JSON.stringify(setupJsonSchema(), null, 2)}\n`,
  };
}

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generatedDocs } from '../src/cli/docs.js';
import { commandsWithoutTopic } from '../src/cli/reference.js';
import { undescribedKeys } from '../src/config/reference.js';
import { codePaths, headingAnchors, markdownLinks, strayTableRows } from './markdown.js';

/*
 * The documentation is checked like code: the generated references are what
 * the code gives today, every config key is described, and every link, anchor
 * and repository path the README and docs/ mention leads somewhere. A
 * newcomer who follows a link or opens a named file finds it.
 */

/** Files in the repository (tracked, or new and not ignored), as git sees them. */
function repoFiles(): Set<string> {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8' });
  return new Set(out.split('\n').filter(Boolean));
}

const FILES = repoFiles();
const PAGES = ['README.md', ...[...FILES].filter((file) => /^docs\/.*\.md$/.test(file))].filter((file) => FILES.has(file)).sort();
const read = (file: string) => readFileSync(file, 'utf8');

function exists(path: string): boolean {
  const clean = path.replace(/\/$/, '');
  return FILES.has(clean) || [...FILES].some((file) => file.startsWith(`${clean}/`));
}

describe('generated documentation', () => {
  it.each(Object.keys(generatedDocs()))('%s is what `npm run docs` writes from the code', (path) => {
    expect(read(path), `${path} is stale: run npm run docs`).toBe(generatedDocs()[path]);
  });

  it('every key of every config file has a description in its schema', () => {
    expect(undescribedKeys()).toEqual([]);
  });

  it('every command links to the page that explains it', () => {
    expect(commandsWithoutTopic()).toEqual([]);
  });
});

describe('links and paths in the README and docs/', () => {
  it('lists the pages it checks', () => {
    expect(PAGES).toContain('README.md');
    expect(PAGES).toContain('docs/configuration-reference.md');
  });

  it.each(PAGES)('%s: every relative link and #anchor leads somewhere', (page) => {
    const broken: string[] = [];
    for (const { target, line } of markdownLinks(read(page))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [path = '', anchor] = target.split('#');
      const file = path === '' ? page : normalize(join(dirname(page), decodeURIComponent(path)));
      if (path !== '' && !exists(file)) broken.push(`${page}:${line}: ${target}: no such file`);
      else if (anchor && file.endsWith('.md') && !headingAnchors(read(file)).has(anchor)) broken.push(`${page}:${line}: ${target}: no such heading`);
    }
    expect(broken).toEqual([]);
  });

  it.each(PAGES)('%s: every repository path in backticks exists', (page) => {
    const topDirs = new Set([...FILES].filter((file) => file.includes('/')).map((file) => file.split('/')[0] as string));
    const missing: string[] = [];
    for (const { path, lineNumber, line } of codePaths(read(page), topDirs)) {
      const source = path.replace(/^dist\/(.*)\.js$/, '$1.ts'); // what `npm run build` compiles it from
      const pattern = source.includes('*') ? new RegExp(`^${source.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`) : undefined;
      const found = pattern ? [...FILES].some((file) => pattern.test(file)) : exists(source) || FILES.has(`${source}.ts`);
      if (!found) missing.push(`${page}:${line}: ${path}: not in the repository`);
      else if (lineNumber !== undefined && read(source).split('\n').length < lineNumber) missing.push(`${page}:${line}: ${path}: the file is shorter`);
    }
    expect(missing).toEqual([]);
  });

  it.each(PAGES)('%s: every table row belongs to a table', (page) => {
    expect(strayTableRows(read(page)).map((line) => `${page}:${line}`)).toEqual([]);
  });

  it('the README stays a front door: at most 400 lines', () => {
    expect(read('README.md').split('\n').length).toBeLessThanOrEqual(400);
  });

  it.each(PAGES.filter((page) => page.startsWith('docs/')))('%s opens by saying who it is for', (page) => {
    const firstParagraph = read(page).split('\n').slice(1).find((line) => line.trim() !== '');
    expect(firstParagraph).toMatch(/^For /);
  });
});

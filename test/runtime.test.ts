import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

/*
 * Node.js 20 reached end of life on 2026-04-30: mail2sms runs on Node.js 24. A
 * machine that only has an older Node gets one line saying what to install, and
 * the project's own script fetches Node 24 from the npm registry.
 */
const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const bin = join(root, 'bin', 'mail2sms.js');
let scratch: string | undefined;

afterEach(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  scratch = undefined;
});

/** Runs the CLI in this Node, but with process.versions.node claiming `version`. */
async function cliOn(version: string): Promise<{ code: number; stderr: string; stdout: string }> {
  const pretend = `data:text/javascript,Object.defineProperty(process,"versions",{value:{...process.versions,node:${JSON.stringify(version)}}})`;
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', pretend, bin, '--version']);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('the supported runtime', () => {
  it('runs this suite on Node.js 24 or newer', () => {
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(24);
  });

  it('an older Node gets one line naming what to install and exit 69, before any native module loads', async () => {
    const result = await cliOn('20.20.2');
    expect(result.code).toBe(69);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('needs Node.js 24 LTS or newer; this is Node.js 20.20.2');
    expect(result.stderr).toContain('. scripts/node24.sh');
  });

  it('Node.js 24 runs the CLI', async () => {
    const result = await cliOn('24.21.0');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('package.json, .npmrc, the Dockerfile and the unit agree on Node.js 24', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string }; dependencies: Record<string, string> };
    expect(pkg.engines.node).toBe('>=24');
    expect(pkg.dependencies['@types/node']).toMatch(/^\^24\./);
    expect(readFileSync(join(root, '.npmrc'), 'utf8')).toMatch(/^engine-strict=true$/m);
    const froms = readFileSync(join(root, 'Dockerfile'), 'utf8').match(/^FROM \S+/gm);
    expect(froms).toEqual(['FROM node:24-bookworm-slim', 'FROM node:24-bookworm-slim']);
    expect(readFileSync(join(root, '.ci', 'run'), 'utf8')).toMatch(/^\. scripts\/node24\.sh$/m);
  });
});

describe('scripts/node24.sh', () => {
  /** A PATH whose `node` is a stub reporting `major`, and a cached Node 24 tree with a stub binary. */
  function fakeMachine(major: number): { path: string; cache: string; tree: string } {
    scratch = mkdtempSync(join(tmpdir(), 'm2s-node24-'));
    const system = join(scratch, 'system-bin');
    mkdirSync(system);
    writeFileSync(join(system, 'node'), `#!/bin/sh\necho ${major}\n`);
    chmodSync(join(system, 'node'), 0o755);
    const cache = join(scratch, 'cache');
    const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
    const tree = join(cache, 'node_modules', 'node', 'node_modules', `node-linux-${arch}`);
    mkdirSync(join(tree, 'bin'), { recursive: true });
    writeFileSync(join(tree, 'bin', 'node'), '#!/bin/sh\necho 24\n');
    chmodSync(join(tree, 'bin', 'node'), 0o755);
    return { path: `${system}:/usr/bin:/bin`, cache, tree };
  }

  async function sourced(machine: { path: string; cache: string }): Promise<string[]> {
    const script = '. ./scripts/node24.sh && printf "%s\\n%s\\n" "$PATH" "${npm_config_nodedir:-none}"';
    const { stdout } = await run('/bin/sh', ['-c', script], { cwd: root, env: { PATH: machine.path, HOME: root, MAIL2SMS_NODE_DIR: machine.cache } });
    return stdout.trim().split('\n');
  }

  it('on a machine with Node 20 puts the cached Node 24 first on PATH and points node-gyp at its headers', async () => {
    const machine = fakeMachine(20);
    const [path, nodedir] = await sourced(machine);
    expect(path!.split(':')[0]).toBe(join(machine.tree, 'bin'));
    expect(nodedir).toBe(machine.tree);
  });

  it('changes nothing where node is already 24', async () => {
    const machine = fakeMachine(24);
    const [path, nodedir] = await sourced(machine);
    expect(path).toBe(machine.path);
    expect(nodedir).toBe('none');
  });
});

import { hashPassword } from '../../core/passwords.js';
import { CliFailure } from '../common.js';
import { EXIT } from '../exit.js';
import type { Command } from 'commander';
import type { CliIo } from '../io.js';

export function registerPasswordsCommands(program: Command, { out }: CliIo): void {
  program
    .command('hash-password')
    .description('read a password (typed without echo, or from standard input) and print its scrypt hash for authorize.smtp_auth')
    .action(async () => {
      const password = await readPassword();
      if (!password) throw new CliFailure('no password given', EXIT.usage);
      out((await hashPassword(password)) + '\n');
    });
}

/** A password from a terminal (not echoed) or the first line of standard input. */
async function readPassword(): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(chunk as Buffer);
    return (Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '');
  }
  process.stderr.write('Password: ');
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve) => {
    let password = '';
    const onData = (data: Buffer) => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off('data', onData);
          process.stderr.write('\n');
          return resolve(password);
        }
        if (ch === '\u0003') process.exit(EXIT.usage);
        password = ch === '\u007f' ? password.slice(0, -1) : password + ch;
      }
    };
    stdin.on('data', onData);
  });
}


import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';
import { Command, CommanderError } from 'commander';
import { CliFailure, configOption, load } from './common.js';
import { registerLedgerCommands } from './ledger-commands.js';
import { parseListen } from '../config/units.js';
import { setupJsonSchema } from '../config/schema.js';
import { createLogger } from '../log.js';
import { migrate, openDatabase } from '../ledger/db.js';
import { pidFileFor, startDaemon } from '../daemon.js';
import { createProviderSimulator } from '../providers/simulator.js';
import { EXIT } from './exit.js';
import { explainMail, formatExplain } from './explain.js';
import { hashPassword } from '../smtp/passwords.js';
import { createRuleReader } from '../ledger/rules.js';
import Database from 'better-sqlite3';
import { isIP } from 'node:net';

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}


function waitForSignals(handlers: { stop: () => Promise<void>; reload?: () => void }): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onStop = (signal: NodeJS.Signals) => {
      if (stopping) {
        process.stderr.write(`mail2sms: second ${signal}, exiting now\n`);
        process.exit(EXIT.software);
      }
      stopping = true;
      const force = setTimeout(() => process.exit(EXIT.software), 30_000);
      force.unref();
      handlers.stop().then(() => resolve(EXIT.ok), () => resolve(EXIT.software));
    };
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    if (handlers.reload) process.on('SIGHUP', handlers.reload);
  });
}

export function buildProgram(out: (text: string) => void, setExit: (code: number) => void): Command {
  const program = new Command('mail2sms')
    .description('Inbound email-to-SMS gateway')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: (text) => process.stderr.write(text) });


  program
    .command('serve')
    .description('run the daemon: SMTP intake, dispatch, HTTP listener (and the simulator if configured)')
    .addOption(configOption())
    .action(async (opts: { config: string }) => {
      const config = load(opts.config);
      const logger = createLogger({ level: config.main.log.level });
      let daemon;
      try {
        daemon = await startDaemon({ config, logger });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        logger.fatal({ err: error }, 'startup failed');
        logger.flush();
        throw new CliFailure(`cannot start: ${(error as Error).message}`, code === 'EADDRINUSE' || code === 'EACCES' ? EXIT.unavailable : EXIT.software);
      }
      const running = daemon;
      const failed = running.failed.then(() => EXIT.software);
      setExit(await Promise.race([waitForSignals({ stop: () => running.stop(), reload: () => void running.reload() }), failed]));
      logger.flush();
    });

  program
    .command('check-config')
    .description('validate the main config and every setup; exit 78 with file:line: field: problem on error')
    .addOption(configOption())
    .action((opts: { config: string }) => {
      const config = load(opts.config);
      out(`${config.file}: OK (${config.setups.length} setup(s): ${config.setups.map((s) => s.id).join(', ')})\n`);
    });

  program
    .command('reload')
    .description('validate the config here, then tell the running daemon to reload it (SIGHUP; same as systemctl reload)')
    .addOption(configOption())
    .action((opts: { config: string }) => {
      const config = load(opts.config);
      const pidFile = pidFileFor(config);
      let pid: number;
      try {
        pid = Number(readFileSync(pidFile, 'utf8').trim());
      } catch {
        throw new CliFailure(`no running daemon: ${pidFile} does not exist`, EXIT.unavailable);
      }
      try {
        process.kill(pid, 'SIGHUP');
      } catch (error) {
        throw new CliFailure(`no daemon with pid ${pid} (${(error as NodeJS.ErrnoException).code}); ${pidFile} is stale`, EXIT.unavailable);
      }
      out(`config valid; asked mail2sms (pid ${pid}) to reload\n`);
    });

  program
    .command('migrate')
    .description('apply database migrations and exit')
    .addOption(configOption())
    .action((opts: { config: string }) => {
      const config = load(opts.config);
      const db = openDatabase(config.storagePath);
      try {
        const report = migrate(db);
        out(report.applied.length > 0 ? `applied ${report.applied.join(', ')}; schema version ${report.version}\n` : `up to date; schema version ${report.version}\n`);
      } finally {
        db.close();
      }
    });

  program
    .command('explain')
    .description('show what the daemon would do with a mail, without sending: setup, authorisation, each recipient, the SMS text')
    .argument('<file>', 'the mail (.eml)')
    .option('--from <address>', 'envelope sender (default: the From header)')
    .option('--to <address...>', 'envelope recipients (default: the To and Cc headers)')
    .option('--ip <address>', 'client IP address', '127.0.0.1')
    .option('--user <name>', 'SMTP AUTH user the client logs in as')
    .option('--json', 'print JSON')
    .addOption(configOption())
    .action(async (file: string, opts: { from?: string; to?: string[]; ip: string; user?: string; json?: boolean; config: string }) => {
      const config = load(opts.config);
      let raw: Buffer;
      try {
        raw = readFileSync(file);
      } catch (error) {
        throw new CliFailure(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, EXIT.dataErr);
      }
      if (isIP(opts.ip) === 0) throw new CliFailure(`--ip: "${opts.ip}" is not an IP address`, EXIT.usage);
      // Consent, caps and cooldown are read from the ledger if there is one; explain never writes.
      // No ledger yet: an empty one in memory, so the rules still answer (no consent recorded, nothing sent).
      const db = existsSync(config.storagePath) ? new Database(config.storagePath, { readonly: true, fileMustExist: true }) : emptyLedger();
      try {
        let rules: ReturnType<typeof createRuleReader> | undefined;
        try {
          rules = db ? createRuleReader(db) : undefined;
        } catch (error) {
          throw new CliFailure(`cannot read the ledger ${config.storagePath}: ${(error as Error).message} (run \`mail2sms migrate\` if it was written by an older version)`, EXIT.software);
        }
        const report = await explainMail(config, raw, {
          ...(opts.from ? { from: opts.from } : {}),
          ...(opts.user ? { user: opts.user } : {}),
          to: opts.to ?? [],
          ip: opts.ip,
          now: Date.now(),
          ...(rules ? { rules: (recipient, recipientRules, now) => rules.evaluate(recipient, recipientRules, now) } : {}),
        });
        out(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatExplain(report));
      } finally {
        db?.close();
      }
    });

  program
    .command('hash-password')
    .description('read a password (typed without echo, or from standard input) and print its scrypt hash for authorize.smtp_auth')
    .action(async () => {
      const password = await readPassword();
      if (!password) throw new CliFailure('no password given', EXIT.usage);
      out((await hashPassword(password)) + '\n');
    });

  program
    .command('schema')
    .description('print the JSON Schema of a setup file (shipped as config/setup.schema.json)')
    .action(() => out(JSON.stringify(setupJsonSchema(), null, 2) + '\n'));

  program
    .command('backup')
    .description('write a consistent copy of the ledger with the SQLite online backup API (safe while the daemon runs)')
    .argument('<destination>', 'file to write; must not exist')
    .addOption(configOption())
    .action(async (destination: string, opts: { config: string }) => {
      const config = load(opts.config);
      if (existsSync(destination)) throw new CliFailure(`${destination} already exists; refusing to overwrite a backup`, EXIT.cantCreate);
      if (!existsSync(config.storagePath)) throw new CliFailure(`no ledger at ${config.storagePath}`, EXIT.unavailable);
      const db = openDatabase(config.storagePath);
      try {
        const result = await db.backup(destination);
        out(`backed up ${config.storagePath} to ${destination} (${result.totalPages} pages)\n`);
      } catch (error) {
        throw new CliFailure(`backup failed: ${(error as Error).message}`, EXIT.cantCreate);
      } finally {
        db.close();
      }
    });

  registerLedgerCommands(program, out);

  program
    .command('provider-sim')
    .description('run the SMS provider simulator on its own')
    .option('-l, --listen <host:port>', 'address to listen on', '127.0.0.1:9090')
    .option('-s, --secret <secret>', 'shared secret that signs delivery receipts, 16+ characters (default: $MAIL2SMS_SIM_SECRET)')
    .option('--receipt-delay <ms>', 'delay before posting a delivery receipt', '200')
    .option('--inbound-url <url>', "where POST /simulate/inbound delivers inbound SMS (the daemon's <public url>/inbound)")
    .action(async (opts: { listen: string; secret?: string; receiptDelay: string; inboundUrl?: string }) => {
      const secret = opts.secret || process.env.MAIL2SMS_SIM_SECRET || '';
      if (secret.length < 16) throw new CliFailure('--secret (or MAIL2SMS_SIM_SECRET): a secret of at least 16 characters is required', EXIT.usage);
      const listen = parseListen(opts.listen);
      if (!listen) throw new CliFailure(`--listen: "${opts.listen}" is not host:port`, EXIT.usage);
      const delay = Number(opts.receiptDelay);
      if (!Number.isInteger(delay) || delay < 0) throw new CliFailure('--receipt-delay: must be a whole number of milliseconds', EXIT.usage);
      const inboundUrl = opts.inboundUrl;
      if (inboundUrl !== undefined && !/^https?:\/\/\S+$/.test(inboundUrl)) throw new CliFailure('--inbound-url: must be an http(s) URL', EXIT.usage);
      const logger = createLogger();
      const simulator = createProviderSimulator({ listen, secret, receiptDelayMs: delay, logger, inboundUrl: () => inboundUrl });
      const started = await simulator.start();
      logger.info({ url: started.url, port: started.port }, 'provider simulator ready');
      setExit(await waitForSignals({ stop: () => simulator.stop() }));
    });

  return program;
}

function emptyLedger(): Database.Database {
  const db = new Database(':memory:');
  migrate(db);
  return db;
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

/** Runs the CLI and returns the exit code; never lets a stack trace reach the user. */
export async function runCli(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = buildProgram((text) => process.stdout.write(text), (code) => (exitCode = code));
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (error instanceof CliFailure) {
      process.stderr.write(`mail2sms: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`mail2sms: unexpected error: ${(error as Error).message ?? String(error)}\n`);
    return EXIT.software;
  }
}

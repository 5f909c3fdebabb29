import { parseListen } from '../../core/units.js';
import { createLogger } from '../../core/log.js';
import { createProviderSimulator } from '../../simulator/server.js';
import { CliFailure } from '../common.js';
import { EXIT } from '../exit.js';
import { waitForSignals } from '../signals.js';
import type { Command } from 'commander';
import type { CliIo } from '../io.js';

export function registerProviderSimCommands(program: Command, { setExit }: CliIo): void {
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
}

// `triledger device transaction|account|currency --config FILE`: run one device in this process.
//
// Prints one line when it listens ("triledger DEVICE device listening on URL"), then serves until
// SIGINT or SIGTERM, when it stops accepting, finishes what is in flight and closes its store.

import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadDeviceConfig } from '../devices/config.js';
import { startDevice } from '../devices/start.js';
import { storeSpecPattern } from '../store/open.js';
import { CliFailure, envOption, exitCodes, expectOk, usageError } from './output.js';

export function registerDeviceCommand(program: Command): void {
  program
    .command('device')
    .description('run one device (transaction, account or currency) from its configuration file')
    .argument('<device>', 'transaction, account or currency')
    .addOption(
      envOption(
        '--config <file>',
        'the device configuration (JSON)',
        'TRILEDGER_CONFIG',
      ).makeOptionMandatory(),
    )
    .addOption(
      envOption(
        '--port <port>',
        'listen on this port instead of the configured one (0: any free port)',
        'TRILEDGER_PORT',
      ),
    )
    .addOption(
      envOption(
        '--store <store>',
        'sqlite:PATH or postgres://… instead of the configured store',
        'TRILEDGER_STORE',
      ),
    )
    .action(async (device: string, options: { config: string; port?: string; store?: string }) => {
      // A configuration that is missing or malformed is the operator's mistake: exit 2.
      const configured = loadDeviceConfig(options.config);
      if (!configured.ok) throw usageError(configured.message);
      const loaded = configured.value;
      if (options.store !== undefined && !storeSpecPattern.test(options.store))
        throw usageError('--store must be sqlite:PATH or a postgres:// URL');
      const config =
        options.store === undefined
          ? loaded
          : {
              ...loaded,
              store: options.store.startsWith('sqlite:')
                ? `sqlite:${resolve(options.store.slice(7))}`
                : options.store,
            };
      if (config.device !== device)
        throw usageError(`${options.config} configures the ${config.device} device, not ${device}`);
      if (options.port !== undefined && !/^[0-9]{1,5}$/.test(options.port))
        throw usageError('--port must be a port number');
      const running = expectOk(
        await startDevice(
          options.port === undefined ? config : { ...config, port: Number(options.port) },
        ),
      );
      process.stdout.write(`triledger ${device} device listening on ${running.url}\n`);
      const reason = await new Promise<'signal' | 'set aside'>((resolve) => {
        const stop = () => resolve('signal');
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        void running.setAsideRequested.then(() => resolve('set aside'));
      });
      await running.close();
      if (reason === 'set aside') {
        // A recovery asked for it (devices/storeRebuild.ts): the supervisor starts this device
        // again, on a new store, which the recovery rebuilds.
        const aside = expectOk(await running.setStoreAside());
        process.stdout.write(
          `triledger ${device} device: its damaged store is set aside as ${aside}; start it again to rebuild\n`,
        );
        throw new CliFailure('', exitCodes.restart);
      }
    });
}

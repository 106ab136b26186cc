// `triledger up`: the three devices on this machine, as three child processes, stopped together.
//
// On the first run it creates a demo deployment in DIR (default ./triledger-data): keys for the
// three devices and an issuer, configurations, and then, through real signed operations, accounts
// 1 and 2 (balances 1500 and 0, FIG. 1G) and currency units 1-3 of 500 JPY owned by account 1
// (FIG. 1H). Later runs start the same deployment again. Ctrl-C (or SIGTERM) stops all three.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve as resolvePath } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import {
  createDeployment,
  type DeviceName,
  deploymentInfo,
  deviceNames,
  operatorKeyNumber,
  portBaseDefault,
  portOf,
} from '../deployment/demo.js';
import { loadDeviceConfig } from '../devices/config.js';
import { systemEnvironment } from '../model/environment.js';
import { parseStoreLocation } from '../store/open.js';
import {
  CliFailure,
  dataDirDefault,
  dataOption,
  envOption,
  exitCodes,
  expectOk,
  printJson,
  usageError,
} from './output.js';

/** How long `up` waits for a device to listen unless told otherwise (`--start-timeout`). */
const deviceStartSecondsDefault = 20;
/** The longest `--start-timeout` taken: an hour. */
const deviceStartSecondsMax = 3600;
/** Characters of what a starting device writes on stderr before it listens that `up` keeps. */
const startOutputCharactersMax = 64 * 1024;
/** The gateway's peers: they start before it, together. */
const peerNames = ['account', 'currency'] as const satisfies readonly DeviceName[];
const mainPath = fileURLToPath(new URL('./main.js', import.meta.url));

/**
 * A device that stopped before it listened, with what it wrote on stderr meanwhile (its one line
 * saying why, when it refused). Devices start two at a time: when both fail (a store out of
 * reach), `up` repeats one device's line, not both.
 */
class DeviceDidNotStart extends CliFailure {
  constructor(
    message: string,
    exitCode: number,
    readonly said: string,
  ) {
    super(message, exitCode);
  }
}

/**
 * A device's process; it runs with `up`'s own Node.js flags (as `fork` would), e.g. --cpu-prof.
 * What it writes on stderr is held until it listens, then passed through as it comes.
 */
function startChild(
  dir: string,
  device: string,
  startMsMax: number,
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [...process.execArgv, mainPath, 'device', device, '--config', join(dir, `${device}.json`)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let said = '';
  const hold = (chunk: Buffer) => {
    said += chunk.toString().slice(0, startOutputCharactersMax - said.length);
  };
  child.stderr!.on('data', hold);
  return new Promise((resolve, reject) => {
    // A device that does not listen in time is stopped, not left running behind `up`'s failure.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, startMsMax);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const match = / listening on (\S+)$/.exec(line);
      if (match) {
        clearTimeout(timer);
        child.stderr!.off('data', hold);
        process.stderr.write(said);
        child.stderr!.pipe(process.stderr, { end: false });
        resolve({ child, url: match[1]! });
      } else {
        process.stdout.write(`[${device}] ${line}\n`);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      // A device that refuses to start (exit 1 or 2) has said why on stderr, in one line.
      const saidWhy = code === exitCodes.refused || code === exitCodes.usage;
      reject(
        timedOut
          ? new DeviceDidNotStart(
              `the ${device} device did not listen within ${startMsMax / 1000} s (--start-timeout); it was stopped`,
              exitCodes.refused,
              said,
            )
          : saidWhy
            ? new DeviceDidNotStart('', code, said)
            : new DeviceDidNotStart(
                `the ${device} device stopped (exit code ${code}) before it listened`,
                exitCodes.refused,
                said,
              ),
      );
    });
  });
}

/** Repeat what a device that did not start said (its one line), once. */
function reportNotStarted(error: unknown): void {
  if (error instanceof DeviceDidNotStart) process.stderr.write(error.said);
}

interface UpOptions {
  data: string;
  scheme: string;
  mode: string;
  portBase: string;
  startTimeout: string;
  store?: string;
  json?: boolean;
}

export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description(
      'run the three devices locally; the first run creates a demo deployment with accounts 1 and 2',
    )
    .addOption(dataOption())
    .addOption(
      envOption(
        '--scheme <scheme>',
        'signature scheme of a new deployment: hmac or ed25519',
        'TRILEDGER_SCHEME',
        'hmac',
      ),
    )
    .addOption(
      envOption(
        '--mode <mode>',
        'protocol mode of a new deployment: confirm or update',
        'TRILEDGER_MODE',
        'confirm',
      ),
    )
    .addOption(
      envOption(
        '--port-base <port>',
        'transaction listens here, account on +1, currency on +2',
        'TRILEDGER_PORT_BASE',
        String(portBaseDefault),
      ),
    )
    .addOption(
      envOption(
        '--store <url>',
        'stores of a new deployment: postgres://… (one schema per device) instead of SQLite files',
        'TRILEDGER_STORE',
      ),
    )
    .addOption(
      envOption(
        '--start-timeout <seconds>',
        'how long each device may take to open its store and listen before up stops it and gives up',
        'TRILEDGER_START_TIMEOUT',
        String(deviceStartSecondsDefault),
      ),
    )
    .option('--json', 'once the devices serve, print where as JSON instead of the hints')
    .action(async (options: UpOptions, command: Command) => {
      if (options.scheme !== 'hmac' && options.scheme !== 'ed25519')
        throw usageError('--scheme must be hmac or ed25519');
      if (options.mode !== 'confirm' && options.mode !== 'update')
        throw usageError('--mode must be confirm or update');
      const portBase = Number(options.portBase);
      if (!Number.isInteger(portBase) || portBase < 1024 || portBase > 65_000)
        throw usageError('--port-base must be a port from 1024 to 65000');
      const startSeconds = Number(options.startTimeout);
      if (
        !Number.isInteger(startSeconds) ||
        startSeconds < 1 ||
        startSeconds > deviceStartSecondsMax
      )
        throw usageError(
          `--start-timeout must be whole seconds from 1 to ${deviceStartSecondsMax}`,
        );
      const dir = options.data;
      const firstRun = !existsSync(join(dir, 'deployment.json'));
      if (options.store !== undefined) {
        if (!firstRun)
          throw usageError(`--store applies to a new deployment; ${dir} already has one`);
        const location = parseStoreLocation(options.store, 'transaction');
        if (!location.ok || location.value.backend !== 'postgres')
          throw usageError('--store must be a postgres:// URL');
      }
      const addresses = firstRun ? newAddresses(portBase) : configuredAddresses(dir);
      const portBaseSource = command.getOptionValueSource('portBase');
      if (!firstRun && (portBaseSource === 'cli' || portBaseSource === 'env'))
        requireSamePorts(dir, addresses, portBase);
      await requireFree(addresses);
      const entriesBefore = existsSync(dir) ? new Set(readdirSync(dir)) : undefined;
      if (firstRun)
        createDeployment(
          dir,
          {
            scheme: options.scheme,
            mode: options.mode,
            portBase,
            host: '127.0.0.1',
            ...(options.store === undefined ? {} : { store: options.store }),
          },
          systemEnvironment,
        );
      const failure = await runDevices(dir, options.json === true, startSeconds * 1000);
      if (failure === undefined) return;
      // A first start that failed leaves nothing half-made: running it again starts afresh.
      if (firstRun && !existsSync(join(dir, 'seeded'))) removeCreated(dir, entriesBefore);
      throw failure;
    });
}

type Addresses = Record<DeviceName, { host: string; port: number }>;

function newAddresses(portBase: number): Addresses {
  return Object.fromEntries(
    deviceNames.map((device) => [device, { host: '127.0.0.1', port: portOf(device, portBase) }]),
  ) as Addresses;
}

function configuredAddresses(dir: string): Addresses {
  return Object.fromEntries(
    deviceNames.map((device) => {
      const config = expectOk(loadDeviceConfig(join(dir, `${device}.json`)));
      return [device, { host: config.host, port: config.port }];
    }),
  ) as Addresses;
}

/** An existing deployment keeps its ports: a different --port-base is refused, not ignored. */
function requireSamePorts(dir: string, addresses: Addresses, portBase: number): void {
  const configured = addresses.transaction.port;
  if (configured !== portOf('transaction', portBase))
    throw usageError(
      `the deployment in ${dir} listens on ports ${configured}-${configured + 2}; --port-base applies to a new deployment`,
    );
}

/** Refuse before anything is created or started when another process holds a device's port. */
async function requireFree(addresses: Addresses): Promise<void> {
  for (const device of deviceNames) {
    const { host, port } = addresses[device];
    const inUse = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(true));
      probe.listen(port, host, () => probe.close(() => resolve(false)));
    });
    if (inUse)
      throw usageError(
        `port ${port} on ${host} (the ${device} device) is in use by another process; choose another --port-base for a new deployment, or stop that process`,
      );
  }
}

/** Remove what a failed first run created in `dir` (everything, when it made `dir` itself). */
function removeCreated(dir: string, entriesBefore: ReadonlySet<string> | undefined): void {
  if (entriesBefore === undefined) {
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  for (const entry of readdirSync(dir))
    if (!entriesBefore.has(entry)) rmSync(join(dir, entry), { recursive: true, force: true });
}

/**
 * Start the three devices (the gateway last), seed a new deployment, print the hints, and wait
 * until a signal stops them or one of them stops; resolves with the failure, if any, once all
 * three have exited.
 */
async function runDevices(
  dir: string,
  json: boolean,
  startMsMax: number,
): Promise<CliFailure | undefined> {
  const children: ChildProcess[] = [];
  const urls: Partial<Record<DeviceName, string>> = {};
  let stopping = false;
  let gateway: ChildProcess | undefined;
  /** The gateway first (it hands its peers the settlements in flight), then its peers. */
  const stopAll = () => {
    stopping = true;
    const stopPeers = () => {
      for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    };
    if (gateway === undefined || gateway.exitCode !== null) return stopPeers();
    gateway.once('exit', stopPeers);
    gateway.kill('SIGTERM');
  };
  const exited = new Promise<CliFailure | undefined>((resolve) => {
    process.once('SIGINT', () => {
      stopAll();
      resolve(undefined);
    });
    process.once('SIGTERM', () => {
      stopAll();
      resolve(undefined);
    });
    const watch = (child: ChildProcess, device: DeviceName) =>
      child.once('exit', (code) => {
        if (stopping) return;
        // A device that set its damaged store aside at a recovery's request starts again, on a
        // new store, which that recovery rebuilds (devices/storeRebuild.ts).
        if (code === exitCodes.restart) return void restart(child, device);
        stopAll();
        resolve(
          new CliFailure(
            `the ${device} device stopped (exit code ${code}); the others were stopped`,
            exitCodes.refused,
          ),
        );
      });
    const restart = async (old: ChildProcess, device: DeviceName) => {
      try {
        const { child } = await startChild(dir, device, startMsMax);
        children[children.indexOf(old)] = child;
        if (device === 'transaction') gateway = child;
        watch(child, device);
        if (!json) process.stdout.write(`${device.padEnd(11)} started again on a new store\n`);
      } catch (error) {
        reportNotStarted(error);
        stopAll();
        resolve(
          new CliFailure(
            `the ${device} device did not start again: ${error instanceof Error ? error.message : String(error)}`,
            exitCodes.refused,
          ),
        );
      }
    };
    void (async () => {
      try {
        // Account and currency start together (neither calls the other), the gateway once both
        // listen: it calls them from its first moment (the settlements its store left in flight).
        for (const group of [peerNames, ['transaction'] as const]) {
          const started = await Promise.allSettled(
            group.map((device) => startChild(dir, device, startMsMax)),
          );
          started.forEach((outcome, index) => {
            if (outcome.status === 'rejected') return;
            const device = group[index]!;
            const { child, url } = outcome.value;
            children.push(child);
            if (device === 'transaction') gateway = child;
            watch(child, device);
            urls[device] = url;
            if (!json) process.stdout.write(`${device.padEnd(11)} ${url}\n`);
          });
          const failed = started.find((outcome) => outcome.status === 'rejected');
          if (failed !== undefined) {
            reportNotStarted(failed.reason);
            throw failed.reason;
          }
        }
        if (!existsSync(join(dir, 'seeded'))) await seed(dir, json);
        if (json) printUp(dir, urls);
        else printHints(dir);
      } catch (error) {
        stopAll();
        resolve(
          error instanceof CliFailure
            ? error
            : new CliFailure(
                error instanceof Error ? error.message : String(error),
                exitCodes.refused,
              ),
        );
      }
    })();
  });
  const failure = await exited;
  await Promise.all(
    children.map((child) =>
      child.exitCode === null ? new Promise((resolve) => child.once('exit', resolve)) : undefined,
    ),
  );
  return failure;
}

/** `up --json`: where the deployment serves, for a program that started it. */
function printUp(dir: string, devices: Partial<Record<DeviceName, string>>): void {
  const info = deploymentInfo(dir);
  printJson({
    status: 'up',
    data: resolvePath(dir),
    scheme: info.scheme,
    mode: info.mode,
    transactionUrl: info.transactionUrl,
    docsUrl: `${info.transactionUrl}/docs`,
    walletUrl: `${info.transactionUrl}/wallet`,
    consoleUrl: `${info.transactionUrl}/console`,
    devices,
  });
}

/** What `up` prints once the devices serve: where, and commands that work as printed. */
function printHints(dir: string): void {
  const info = deploymentInfo(dir);
  // The hints work as printed: outside the default folder they name it.
  const data = resolvePath(dir) === resolvePath(dataDirDefault) ? '' : ` --data ${dir}`;
  process.stdout.write(
    [
      '',
      `triledger is up: ${info.transactionUrl} (API docs at ${info.transactionUrl}/docs), scheme ${info.scheme}, mode ${info.mode}`,
      'try, in another terminal:',
      `  npx triledger balance 1${data}`,
      `  npx triledger remit --from 1 --to 2 --amount 500${data}`,
      `  npx triledger units 2${data}`,
      `  npx triledger history 1${data}`,
      `  npx triledger audit${data}`,
      `in a browser: the wallet at ${info.transactionUrl}/wallet, the operator console at ${info.transactionUrl}/console`,
      `  (sign in with key ${operatorKeyNumber}: npx triledger keys export-seed --keystore ${join(dir, 'operator.keystore.json')} --passphrase-file ${join(dir, 'passphrase')} ${operatorKeyNumber})`,
      'Ctrl-C stops all three devices.',
      '',
    ].join('\n'),
  );
}

/**
 * FIG. 1G and FIG. 1H, made by recorded, signed operations. The terminal client is loaded here, on a
 * first run only: every other start of `up` spares its load.
 */
async function seed(dir: string, quiet: boolean): Promise<void> {
  const { issue, openAccount } = await import('./clientCommands.js');
  const first = await openAccount(dir, 'JPY');
  const second = await openAccount(dir, 'JPY');
  await issue(dir, first.accountNumber, 'JPY', [500n, 500n, 500n]);
  writeFileSync(
    join(dir, 'seeded'),
    `accounts ${first.accountNumber} and ${second.accountNumber}; units 1-3 of 500 JPY to account ${first.accountNumber}\n`,
  );
  if (!quiet)
    process.stdout.write(
      `demo deployment: account ${first.accountNumber} holds 1500 JPY in units 1-3 of 500, account ${second.accountNumber} holds 0\n`,
    );
}

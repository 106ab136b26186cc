// The `triledger` command tree: every command, registered from its own module. Apart from main.ts
// (which runs it) so that a test can walk the commands without running one.
//
// A run registers only the module of the command it names: `triledger audit` does not load the
// HTTP server, `triledger device` not the simulator, so each process starts with less to load.
// Help, the version and a mistyped command register every module (commander then lists them all,
// or suggests the nearest). test/cli/program.test.ts keeps the table equal to what the modules
// register.

import { Command } from 'commander';

type Registrar = (program: Command) => void;

export interface CommandModule {
  /** The top-level commands the module registers. */
  readonly commands: readonly string[];
  readonly load: () => Promise<Registrar>;
}

/** Every module of commands, in the order help lists them. */
export const commandModules: readonly CommandModule[] = [
  {
    commands: ['keys'],
    load: async () => (await import('./keysCommand.js')).registerKeysCommand,
  },
  {
    commands: ['demo'],
    load: async () => (await import('./demoCommand.js')).registerDemoCommand,
  },
  {
    commands: ['device'],
    load: async () => (await import('./deviceCommand.js')).registerDeviceCommand,
  },
  { commands: ['up'], load: async () => (await import('./upCommand.js')).registerUpCommand },
  {
    commands: ['account', 'issue', 'redeem', 'remit', 'balance', 'units', 'history'],
    load: async () => (await import('./clientCommands.js')).registerClientCommands,
  },
  {
    commands: ['audit', 'recover'],
    load: async () => (await import('./auditCommand.js')).registerAuditCommands,
  },
  {
    commands: ['set-aside', 'export', 'import'],
    load: async () => (await import('./archiveCommands.js')).registerArchiveCommands,
  },
  {
    commands: ['check-store'],
    load: async () => (await import('./checkStoreCommand.js')).registerCheckStoreCommand,
  },
  {
    commands: ['simulate'],
    load: async () => (await import('./simulateCommand.js')).registerSimulateCommand,
  },
];

/** The program for `argv` (the arguments after `triledger`); without any, every command. */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('triledger')
    .description('a tamper-evident, self-healing currency ledger')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({
      outputError: (text, write) => write(`triledger: ${text.replace(/^error: /, '').trimEnd()}\n`),
    });
  const named = commandModules.find((module) => module.commands.includes(argv[0] ?? ''));
  const registrars = await Promise.all((named ? [named] : commandModules).map((m) => m.load()));
  for (const register of registrars) register(program);
  return program;
}

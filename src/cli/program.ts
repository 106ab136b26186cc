// The `triledger` command tree: every command, registered from its own module. Apart from main.ts
// (which runs it) so that a test can walk the commands without running one.

import { Command } from 'commander';
import { registerArchiveCommands } from './archiveCommands.js';
import { registerAuditCommands } from './auditCommand.js';
import { registerCheckStoreCommand } from './checkStoreCommand.js';
import { registerClientCommands } from './clientCommands.js';
import { registerDemoCommand } from './demoCommand.js';
import { registerDeviceCommand } from './deviceCommand.js';
import { registerKeysCommand } from './keysCommand.js';
import { registerSimulateCommand } from './simulateCommand.js';
import { registerUpCommand } from './upCommand.js';

export function buildProgram(): Command {
  const program = new Command('triledger')
    .description('a tamper-evident, self-healing currency ledger')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({
      outputError: (text, write) => write(`triledger: ${text.replace(/^error: /, '').trimEnd()}\n`),
    });
  registerKeysCommand(program);
  registerDemoCommand(program);
  registerDeviceCommand(program);
  registerUpCommand(program);
  registerClientCommands(program);
  registerAuditCommands(program);
  registerArchiveCommands(program);
  registerCheckStoreCommand(program);
  registerSimulateCommand(program);
  return program;
}

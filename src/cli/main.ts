#!/usr/bin/env node
// The `triledger` command: the entry point of the package's bin.
//
// It builds the command tree, runs the chosen command, and turns every outcome into an exit code:
// 0 done, 1 refused (one line on stderr: `triledger: Code: message`), 2 bad command line,
// 70 an internal invariant violated (a bug; the stack goes to stderr only with TRILEDGER_DEBUG=1).
// A file or folder that is not there, not readable, or a port already taken is the operator's to
// fix, not a bug: whichever command meets it, it is one line with InvalidInput and exit code 2.

import { CommanderError } from 'commander';
import { privateUmask } from '../devices/filePrivacy.js';
import { InvariantViolation } from '../model/assert.js';
import { CliFailure, exitCodes, operatorMistakeOf } from './output.js';
import { buildProgram } from './program.js';

export async function main(argv: readonly string[]): Promise<number> {
  try {
    await (await buildProgram(argv)).parseAsync(argv, { from: 'user' });
    return exitCodes.ok;
  } catch (error) {
    if (error instanceof CliFailure) {
      // An empty message: a child process already said why on stderr.
      if (error.message !== '') process.stderr.write(`triledger: ${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof CommanderError) {
      const quiet = ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(
        error.code,
      );
      return quiet ? exitCodes.ok : exitCodes.usage;
    }
    const mistake = operatorMistakeOf(error);
    if (mistake !== undefined) {
      process.stderr.write(`triledger: InvalidInput: ${mistake}\n`);
      return exitCodes.usage;
    }
    if (error instanceof InvariantViolation) {
      process.stderr.write(
        `triledger: internal error, an invariant was violated: ${error.message}\n`,
      );
    } else {
      process.stderr.write(
        `triledger: internal error: ${error instanceof Error ? error.message : String(error)}\n`,
      );
    }
    if (process.env['TRILEDGER_DEBUG'] === '1' && error instanceof Error)
      process.stderr.write(`${error.stack}\n`);
    return exitCodes.internal;
  }
}

// Everything triledger writes (stores, keystores, wallets, archives) is private to its user.
process.umask(privateUmask);
process.exitCode = await main(process.argv.slice(2));

// The user terminal on the command line: account open, issue, remit, balance, units, history.
//
// Each command reads the deployment description (DIR/deployment.json) and a keystore: the wallet of
// the account that signs, the issuer's keystore for issue; reads are signed by the account's wallet
// (or the operator key when this folder has no wallet for the account). Every
// answer is checked by the TerminalClient before anything is printed. --json prints JSON.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { type OperationRefusal, type OperationResult, TerminalClient } from '../client/terminal.js';
import {
  deploymentInfo,
  newWallet,
  operatorKeyNumber,
  passphraseOf,
  saveWallet,
  walletPath,
} from '../deployment/demo.js';
import { accountKeyNumberBase } from '../devices/context.js';
import { systemEnvironment } from '../model/environment.js';
import { parseAmount, parseNumberId } from '../model/money.js';
import type { SignatureDevice } from '../signature/device.js';
import { loadKeystoreFile } from '../signature/keystoreFile.js';
import {
  CliFailure,
  dataOption,
  exitCodes,
  expectOk,
  printJson,
  refused,
  renderTable,
  usageError,
} from './output.js';

interface DataOptions {
  data: string;
  json?: boolean;
}

/** A keystore of the deployment in `dir`, opened with TRILEDGER_PASSPHRASE or DIR/passphrase. */
export function keystore(path: string, dir: string): SignatureDevice {
  const passphrase = process.env['TRILEDGER_PASSPHRASE'] ?? passphraseOf(dir);
  return expectOk(loadKeystoreFile(path, passphrase, { environment: systemEnvironment }));
}

function client(dir: string, keys: SignatureDevice): TerminalClient {
  return new TerminalClient(deploymentInfo(dir), keys);
}

function number(text: string, field: string): bigint {
  const parsed = parseNumberId(text, field);
  if (!parsed.ok) throw usageError(parsed.message);
  return parsed.value;
}

function settled(result: OperationResult | OperationRefusal): OperationResult {
  if (!result.ok) throw refused(result);
  return result;
}

/** Open an account with a new Ed25519 key; the key goes to DIR/wallets/account-N.keystore.json. */
export async function openAccount(
  dir: string,
  currencyType: string,
): Promise<{ accountNumber: bigint; wallet: string; result: OperationResult }> {
  const wallet = newWallet(dir, systemEnvironment);
  const terminal = client(dir, wallet.keys);
  try {
    const result = settled(
      await terminal.openAccount({ currencyType, signKeyNumber: wallet.keyNumber }),
    );
    const accountNumber = result.accountNumber;
    if (accountNumber === undefined)
      throw new CliFailure('InvalidInput: the reply names no account', exitCodes.refused);
    return {
      accountNumber,
      wallet: saveWallet(dir, wallet.seed, accountNumber, systemEnvironment),
      result,
    };
  } finally {
    wallet.seed.fill(0);
    await terminal.close();
  }
}

export function issue(
  dir: string,
  destinationAccount: bigint,
  currencyType: string,
  values: bigint[],
): Promise<OperationResult> {
  return asIssuer(dir, (terminal, issuerKeyNumber) =>
    terminal.issue({ destinationAccount, currencyType, values, issuerKeyNumber }),
  );
}

/** Retire `amount` of an account's units (FIG. 1H's split rule), signed with the issuer key. */
export function redeem(
  dir: string,
  sourceAccount: bigint,
  currencyType: string,
  amount: bigint,
): Promise<OperationResult> {
  return asIssuer(dir, (terminal, issuerKeyNumber) =>
    terminal.redeem({ sourceAccount, currencyType, amount, issuerKeyNumber }),
  );
}

/** One operation signed with the deployment's issuer key, settled (a refusal throws). */
async function asIssuer(
  dir: string,
  operation: (
    terminal: TerminalClient,
    issuerKeyNumber: number,
  ) => Promise<OperationResult | OperationRefusal>,
): Promise<OperationResult> {
  const info = deploymentInfo(dir);
  const terminal = client(dir, keystore(join(dir, 'issuer.keystore.json'), dir));
  try {
    return settled(await operation(terminal, info.issuerKeyNumbers[0]!));
  } finally {
    await terminal.close();
  }
}

function printOperation(
  result: OperationResult,
  json: boolean | undefined,
  headline: string,
): void {
  if (json) {
    printJson({
      remittanceId: result.remittanceId,
      outcome: result.outcome,
      accountNumber: result.accountNumber,
      records: result.records.map((r) => ({ ...r.record, signature: r.signature.toString('hex') })),
    });
    return;
  }
  process.stdout.write(`${headline}\n`);
  process.stdout.write(
    `${renderTable(
      ['no.', 'transaction type', 'source', 'destination', 'amount', 'outcome', 'signer'],
      result.records.map(({ record }) => [
        record.transactionNumber.toString(),
        record.transactionType,
        record.sourceAccount?.toString() ?? '',
        record.destinationAccount?.toString() ?? '',
        record.amount?.toString() ?? '',
        record.outcome ?? '',
        record.signerKeyNumber,
      ]),
    )}\nchain verified from signature 0: ${result.records.length} records\n`,
  );
}

export function registerClientCommands(program: Command): void {
  const withData = (command: Command) =>
    command.addOption(dataOption()).option('--json', 'print JSON');

  const account = program.command('account').description('accounts of the ledger');
  withData(account.command('open'))
    .description('open an account with a new Ed25519 key (kept in DIR/wallets/)')
    .option('--currency <type>', 'currency type of the account', 'JPY')
    .action(async (options: DataOptions & { currency: string }) => {
      const opened = await openAccount(options.data, options.currency);
      if (options.json)
        return printJson({ accountNumber: opened.accountNumber, wallet: opened.wallet });
      printOperation(
        opened.result,
        false,
        `account ${opened.accountNumber} opened; its key is in ${opened.wallet}`,
      );
    });

  withData(account.command('close'))
    .description('close an account whose balance is zero (signed by its key)')
    .argument('<account>', 'account number')
    .option(
      '--key <file>',
      'the wallet of the account (default: DIR/wallets/account-N.keystore.json)',
    )
    .action(async (accountText: string, options: DataOptions & { key?: string }) => {
      const accountNumber = number(accountText, 'account');
      const keys = keystore(options.key ?? walletPath(options.data, accountNumber), options.data);
      const terminal = client(options.data, keys);
      try {
        const result = settled(
          await terminal.closeAccount({
            accountNumber,
            keyNumber: accountKeyNumberBase + Number(accountNumber),
          }),
        );
        printOperation(result, options.json, `account ${accountNumber} closed`);
      } finally {
        await terminal.close();
      }
    });

  withData(program.command('issue'))
    .description('issue numbered currency units into an account (signed with the issuer key)')
    .requiredOption('--to <account>', 'the account that receives the units')
    .requiredOption(
      '--values <list>',
      'comma-separated unit values in minor units, e.g. 500,500,500',
    )
    .option('--currency <type>', 'currency type', 'JPY')
    .action(async (options: DataOptions & { to: string; values: string; currency: string }) => {
      const values = options.values.split(',').map((text, index) => {
        const parsed = parseAmount(text.trim(), `values[${index}]`);
        if (!parsed.ok) throw usageError(parsed.message);
        return parsed.value;
      });
      const result = await issue(
        options.data,
        number(options.to, '--to'),
        options.currency,
        values,
      );
      printOperation(
        result,
        options.json,
        `issued ${values.length} unit(s) to account ${options.to}`,
      );
    });

  withData(program.command('redeem'))
    .description('retire currency units of an account (signed with the issuer key)')
    .requiredOption('--from <account>', 'the account whose units are retired')
    .requiredOption('--amount <minorUnits>', 'the amount in minor units, e.g. 500')
    .option('--currency <type>', 'currency type', 'JPY')
    .action(async (options: DataOptions & { from: string; amount: string; currency: string }) => {
      const amount = parseAmount(options.amount);
      if (!amount.ok) throw usageError(amount.message);
      const result = await redeem(
        options.data,
        number(options.from, '--from'),
        options.currency,
        amount.value,
      );
      printOperation(
        result,
        options.json,
        `redeemed ${amount.value} ${options.currency} from account ${options.from}`,
      );
    });

  withData(program.command('remit'))
    .description('send a remittance, signed by the source account key')
    .requiredOption('--from <account>', 'the source account')
    .requiredOption('--to <account>', 'the destination account')
    .requiredOption('--amount <minorUnits>', 'the amount in minor units, e.g. 500')
    .option('--currency <type>', 'currency type', 'JPY')
    .option(
      '--key <file>',
      'the wallet of the source account (default: DIR/wallets/account-FROM.keystore.json)',
    )
    .action(
      async (
        options: DataOptions & {
          from: string;
          to: string;
          amount: string;
          currency: string;
          key?: string;
        },
      ) => {
        const from = number(options.from, '--from');
        const amount = parseAmount(options.amount);
        if (!amount.ok) throw usageError(amount.message);
        const keys = keystore(options.key ?? walletPath(options.data, from), options.data);
        const ownKey =
          keys.list().find((k) => k.owner === `account:${from}`)?.keyNumber ??
          accountKeyNumberBase + Number(from);
        const terminal = client(options.data, keys);
        try {
          const result = settled(
            await terminal.remit({
              sourceAccount: from,
              destinationAccount: number(options.to, '--to'),
              amount: amount.value,
              currencyType: options.currency,
              keyNumber: ownKey,
            }),
          );
          printOperation(
            result,
            options.json,
            `remitted ${amount.value} ${options.currency} from account ${from} to account ${options.to}`,
          );
        } finally {
          await terminal.close();
        }
      },
    );

  /**
   * An account's reads are signed by its key: the account's wallet in this folder when it has one,
   * otherwise the operator's key.
   */
  const read = async (dir: string, account: bigint, path: string) => {
    const wallet = walletPath(dir, account);
    const [keys, keyNumber] = existsSync(wallet)
      ? [keystore(wallet, dir), accountKeyNumberBase + Number(account)]
      : [keystore(join(dir, 'operator.keystore.json'), dir), operatorKeyNumber];
    const signer =
      keys.list().find((key) => key.owner === `account:${account}`)?.keyNumber ?? keyNumber;
    const terminal = client(dir, keys);
    try {
      return expectOk(await terminal.read(path, signer));
    } finally {
      await terminal.close();
    }
  };

  withData(program.command('balance'))
    .description("an account's balance, held amount and last update")
    .argument('<account>', 'account number')
    .action(async (accountText: string, options: DataOptions) => {
      const account = number(accountText, 'account');
      const body = await read(options.data, account, `/v1/accounts/${account}`);
      if (options.json) return printJson(body);
      process.stdout.write(
        `${renderTable(['account', 'currency', 'balance', 'held', 'available', 'status', 'last update'], [[body['accountNumber'], body['currencyType'], body['balance'], body['held'], body['available'], body['status'], body['lastUpdate']].map(String)])}\n`,
      );
    });

  withData(program.command('units'))
    .description('the currency units an account owns')
    .argument('<account>', 'account number')
    .action(async (accountText: string, options: DataOptions) => {
      const account = number(accountText, 'account');
      const body = await read(options.data, account, `/v1/accounts/${account}/currency`);
      if (options.json) return printJson(body);
      const units = body['units'] as Record<string, string>[];
      process.stdout.write(
        `${renderTable(
          ['currency number', 'type', 'value', 'owner', 'status', 'last update'],
          units.map((u) =>
            [
              u['currencyNumber'],
              u['currencyType'],
              u['value'],
              u['ownerAccount'],
              u['status'],
              u['lastUpdate'],
            ].map(String),
          ),
        )}\n`,
      );
    });

  withData(program.command('history'))
    .description("an account's operations, oldest first")
    .argument('<account>', 'account number')
    .option('--after <transactionNumber>', 'start after this transaction number', '0')
    .option('--limit <count>', 'operations per page (at most 100)', '20')
    .action(
      async (accountText: string, options: DataOptions & { after: string; limit: string }) => {
        if (!/^[0-9]{1,19}$/.test(options.after) || !/^[1-9][0-9]{0,2}$/.test(options.limit))
          throw usageError('--after and --limit must be whole numbers');
        const account = number(accountText, 'account');
        const body = await read(
          options.data,
          account,
          `/v1/accounts/${account}/transactions?after=${options.after}&limit=${options.limit}`,
        );
        if (options.json) return printJson(body);
        const operations = body['operations'] as Record<string, string | undefined>[];
        process.stdout.write(
          `${renderTable(
            ['operation', 'request id', 'source', 'destination', 'amount', 'outcome', 'date/time'],
            operations.map((o) =>
              [
                o['operation'],
                o['remittanceId'],
                o['sourceAccount'],
                o['destinationAccount'],
                o['amount'],
                o['outcome'],
                o['dateTime'],
              ].map((v) => v ?? ''),
            ),
          )}\n`,
        );
        if (body['next']) process.stdout.write(`more: --after ${String(body['next'])}\n`);
      },
    );
}

// `triledger demo`: the electronic signature device at work on the patent's own example.
//
// Four signature devices (user terminal 210, transaction, account, currency) each hold the FIG. 6
// HMAC keys, but only their own with `sign`. They sign the six records of the FIG. 2B remittance
// as a chain (FIG. 3). The demo then shows what the authorities prevent (the transaction device
// cannot sign as the account device) and what the chain catches (one changed byte, found at its
// link). The keys are the ones printed in FIG. 6: a real deployment generates its own.

import type { Command } from 'commander';
import { encodeRecord, type RecordValues } from '../model/encoding.js';
import { systemEnvironment } from '../model/environment.js';
import { transactionRecordType } from '../model/records.js';
import { type ChainLink, signChained, verifyChain } from '../signature/chain.js';
import { SignatureDevice } from '../signature/device.js';
import { expectOk, printResult, renderTable } from './output.js';

const fig6Keys = [
  { keyNumber: 1, owner: 'transaction', secretHex: '62a6724b3f439ef24571ff01114a2709' },
  { keyNumber: 2, owner: 'account', secretHex: 'd0742b450c46f4d2e6c34b12a1cd7a4c' },
  { keyNumber: 3, owner: 'currency', secretHex: 'b6fad2ee4dcafadd0aa26c6e46b269da' },
  { keyNumber: 4, owner: 'terminal:210', secretHex: '763b7518363ca1addee279e664727dd6' },
] as const;

/** A device holding every FIG. 6 key, with `sign` only on its own. */
function deviceOf(owner: string): SignatureDevice {
  const device = new SignatureDevice(systemEnvironment);
  for (const key of fig6Keys) {
    expectOk(
      device.addKey({
        keyNumber: key.keyNumber,
        owner: key.owner,
        algorithm: 'hmac-sha256',
        material: Buffer.from(key.secretHex, 'hex'),
        authorities: key.owner === owner ? ['sign', 'verify'] : ['verify'],
      }),
    );
  }
  return device;
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'sign and verify the FIG. 2B remittance with chained signatures (FIG. 3) and FIG. 6 authorities',
    )
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) => {
      const devices = new Map<number, SignatureDevice>(
        fig6Keys.map((key) => [key.keyNumber, deviceOf(key.owner)]),
      );
      const at = 1_601_631_000_000n; // 2020-10-02 09:30:00 UTC
      const request = {
        sourceAccount: 1n,
        destinationAccount: 2n,
        amount: 500n,
        currencyType: 'JPY',
      };
      const records: [string, number, RecordValues][] = [
        ['remittance_request', 4, request],
        ['account_confirmation_request', 1, request],
        ['account_confirmation_response', 2, { outcome: 'ok' }],
        ['currency_confirmation_request', 1, request],
        ['currency_confirmation_response', 3, { outcome: 'ok' }],
        ['remittance_response', 1, { outcome: 'ok' }],
      ];
      const signatureZero = Buffer.alloc(32);
      const links: ChainLink[] = [];
      let previous: Buffer = signatureZero;
      records.forEach(([transactionType, signer, fields], index) => {
        const recordBytes = encodeRecord(transactionRecordType, {
          transactionNumber: BigInt(11 + index),
          remittanceId: 'fig-2b',
          transactionType,
          ...fields,
          dateTime: at,
          signerKeyNumber: signer,
        });
        previous = expectOk(signChained(devices.get(signer)!, signer, recordBytes, previous));
        links.push({ signerKeyNumber: signer, recordBytes, signature: previous });
      });

      const lines: string[] = [];
      const out = (line = '') => lines.push(line);
      out('FIG. 2B / FIG. 3: six records, each signed over the previous signature');
      out(
        renderTable(
          ['no.', 'transaction type', 'signer key', 'signature (first 16 hex)'],
          links.map((link, index) => [
            11 + index,
            records[index]![0],
            `${link.signerKeyNumber} (${fig6Keys[link.signerKeyNumber - 1]!.owner})`,
            `${Buffer.from(link.signature).toString('hex', 0, 8)}…`,
          ]),
        ),
      );
      const transactionDevice = devices.get(1)!;
      const verified = verifyChain(transactionDevice, links, signatureZero);
      out(
        `\nthe transaction device verifies the chain: ${verified.ok ? `${verified.linksChecked} links valid` : verified.message}`,
      );

      const forged = transactionDevice.sign(2, links[2]!.recordBytes);
      out(
        `the transaction device tries to sign with key 2 (the account device's): ${forged.ok ? 'signed?!' : forged.code}`,
      );

      const tampered = [...links];
      const bytes = Buffer.from(tampered[3]!.recordBytes);
      bytes.writeUInt8(bytes.readUInt8(bytes.length - 5) ^ 1, bytes.length - 5);
      tampered[3] = { ...tampered[3]!, recordBytes: bytes };
      const broken = verifyChain(transactionDevice, tampered, signatureZero);
      out(
        `one bit of record 14's date/time changed: ${broken.ok ? 'not detected?!' : `${broken.code} at record ${11 + broken.brokenAt}`}`,
      );
      out(
        '\nnext: triledger keys init --owner transaction   (a keystore of your own; see docs/cli.md)',
      );
      const json = {
        records: links.map((link, index) => ({
          transactionNumber: 11 + index,
          transactionType: records[index]![0],
          signerKeyNumber: link.signerKeyNumber,
          signatureHex: Buffer.from(link.signature).toString('hex'),
        })),
        chainVerified: verified.ok,
        signingWithAnotherDevicesKey: forged.ok ? 'signed' : forged.code,
        oneBitChanged: broken.ok
          ? 'not detected'
          : { code: broken.code, atRecord: 11 + broken.brokenAt },
      };
      printResult(options, json, lines.join('\n'));
    });
}

// Records for tests that need signed records of A without a ledger: a remittance request at a
// transaction number, its remittance id the block it belongs to (one operation per block).
import { blockOf, type SignedRecord } from '../../src/protocol/records.js';

export function remittanceRequestAt(transactionNumber: bigint): SignedRecord {
  return {
    record: {
      transactionNumber,
      remittanceId: `r-${blockOf(transactionNumber)}`,
      transactionType: 'remittance_request',
      sourceAccount: 1n,
      destinationAccount: 2n,
      amount: 500n,
      currencyType: 'JPY',
      dateTime: 1_601_631_000_000n + transactionNumber,
      signerKeyNumber: 1_000_001,
    },
    signature: Buffer.alloc(32, Number(transactionNumber % 256n)),
  };
}

// The worker thread of ./chainsAhead.ts: verifies the chain links of the blocks of A it is sent,
// with the audit's keys, and answers per block how many leading links verify.
//
// It decides nothing: the audit checks everything else itself and verifies any link this worker
// did not. A failure here is answered as such, and the audit that asked stops.

import { parentPort, workerData } from 'node:worker_threads';
import { assert } from '../model/assert.js';
import { systemEnvironment } from '../model/environment.js';
import { deviceFromTable } from '../signature/keystoreFile.js';
import {
  type ChainWorkerAnswer,
  type ChainWorkerData,
  type ChainWorkerMessage,
  unpackBlocks,
  verifiedPrefix,
} from './chainsAhead.js';

const port = parentPort;
assert(port, 'the chain worker runs as a worker thread');
const data = workerData as ChainWorkerData;
const table = Buffer.from(data.table.buffer, data.table.byteOffset, data.table.byteLength);
const loaded = deviceFromTable(table, { environment: systemEnvironment }, "the audit's keys");
table.fill(0);
assert(loaded.ok, "the audit's keys load in the chain worker");
const signatures = loaded.value;
const signatureZero = Buffer.from(data.signatureZero);

port.on('message', (message: ChainWorkerMessage) => {
  if (message.kind === 'addKey') {
    const { material } = message.key;
    signatures.addKey({
      ...message.key,
      ...(material ? { material: Buffer.from(material) } : {}),
    });
    return;
  }
  let answer: ChainWorkerAnswer;
  try {
    const packed = Buffer.from(
      message.packed.buffer,
      message.packed.byteOffset,
      message.packed.byteLength,
    );
    const blocks = unpackBlocks(packed);
    const prefixes = Uint8Array.from(blocks, (links) =>
      verifiedPrefix(signatures, signatureZero, links),
    );
    answer = { id: message.id, prefixes };
  } catch (error) {
    answer = { id: message.id, failure: error instanceof Error ? error.message : String(error) };
  }
  port.postMessage(answer);
});

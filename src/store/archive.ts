// Export archives: every store of a deployment in one file, encrypted and authenticated, for moving
// a deployment between SQLite and PostgreSQL (`triledger export`, `triledger import`).
//
// Encryption is a processing type of the signature device (claims 6 and 13): the archive is sealed
// with an AES-256-GCM key of a keystore, which must hold `encrypt` to write and `decrypt` to read.
//
// Layout: the line `triledger-archive 1`, a JSON header line, then chunks, each a 4-byte big-endian
// length and a sealed chunk (IV, ciphertext, tag) of at most `archiveChunkBytesMax` plaintext bytes.
// Every chunk authenticates, as associated data, the SHA-256 of the two header lines, its own index
// and whether it is the last one: a changed header, a changed, reordered, dropped or added chunk,
// or a file cut after any chunk fails to authenticate. The plaintext is NDJSON: one line per row
// (`{"d":device,"t":table,"r":row}`, integers as {"i":"…"}, bytes as {"b":"hex"}) and a last line
// with the row count. Nothing is trusted before all of it has been read: `verifyArchive` reads the
// whole archive first, and an import writes only after it has passed.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import type { Environment } from '../model/environment.js';
import { fail, ok, type Result } from '../model/errors.js';
import { aesGcmIvBytes, aesGcmTagBytes, type SignatureDevice } from '../signature/device.js';
import { type DumpRow, type DumpValue, dumpTableOf } from './dump.js';
import type { DeviceKind } from './types.js';

export const archiveMagic = 'triledger-archive 1\n';
/** Plaintext bytes per sealed chunk. */
export const archiveChunkBytesMax = 1024 * 1024;
/** Longest header line and longest row line read from an archive. */
export const archiveHeaderBytesMax = 4096;
export const archiveLineBytesMax = 16 * 1024 * 1024;

const chunkLengthBytes = 4;
const sealedChunkBytesMax = archiveChunkBytesMax + aesGcmIvBytes + aesGcmTagBytes;
const deviceKinds: readonly DeviceKind[] = ['transaction', 'account', 'currency'];

export interface ArchiveHeader {
  readonly format: 'triledger-archive';
  readonly version: 1;
  /** The keystore key the chunks are sealed with. */
  readonly keyNumber: number;
  readonly createdAtMs: string;
  /** Random, so that two archives never share a header digest. */
  readonly archiveId: string;
}

export interface ArchivedRow extends DumpRow {
  readonly device: DeviceKind;
}

export interface ArchiveSummary {
  readonly header: ArchiveHeader;
  /** Rows per device and table. */
  readonly rows: Record<DeviceKind, Record<string, number>>;
  readonly rowCount: number;
}

function associatedData(headerDigest: Buffer, index: number, last: boolean): Buffer {
  const data = Buffer.alloc(headerDigest.length + 9);
  headerDigest.copy(data);
  data.writeBigUInt64BE(BigInt(index), headerDigest.length);
  data[headerDigest.length + 8] = last ? 1 : 0;
  return data;
}

function encodeValue(value: DumpValue): unknown {
  if (typeof value === 'bigint') return { i: value.toString() };
  if (Buffer.isBuffer(value)) return { b: value.toString('hex') };
  return value;
}

function decodeValue(value: unknown): DumpValue | undefined {
  if (value === null || typeof value === 'string') return value;
  if (typeof value !== 'object') return undefined;
  const tagged = value as { i?: unknown; b?: unknown };
  const keys = Object.keys(tagged);
  if (keys.length !== 1) return undefined;
  if (typeof tagged.i === 'string' && /^-?[0-9]{1,19}$/.test(tagged.i)) return BigInt(tagged.i);
  if (typeof tagged.b === 'string' && /^([0-9a-f]{2})*$/.test(tagged.b))
    return Buffer.from(tagged.b, 'hex');
  return undefined;
}

/**
 * Write an archive of the given devices' rows. The key is checked (present, `encrypt`) before the
 * file is created; the file appears under its name only when complete.
 */
export async function writeArchive(
  path: string,
  keys: SignatureDevice,
  keyNumber: number,
  sources: readonly { device: DeviceKind; rows: AsyncIterable<DumpRow> }[],
  environment: Environment,
): Promise<Result<{ rowCount: number; bytes: number }>> {
  const probe = keys.encrypt(keyNumber, Buffer.alloc(0));
  if (!probe.ok) return probe;
  const header: ArchiveHeader = {
    format: 'triledger-archive',
    version: 1,
    keyNumber,
    createdAtMs: String(environment.nowMs()),
    archiveId: environment.randomBytes(16).toString('hex'),
  };
  const headerText = `${archiveMagic}${JSON.stringify(header)}\n`;
  const headerDigest = createHash('sha256').update(headerText).digest();
  const partial = `${path}.partial`;
  if (existsSync(path))
    return fail('InvalidInput', `${path} exists; an archive is never overwritten`);
  let file: FileHandle;
  try {
    file = await open(partial, 'wx', 0o600);
  } catch (error) {
    return fail(
      'InvalidInput',
      `cannot create ${partial} (${(error as Error).message}); an export still running or one that was cut off leaves it: remove it when none runs`,
    );
  }
  let bytes = 0;
  let index = 0;
  let rowCount = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const write = async (data: Buffer) => {
    await file.write(data);
    bytes += data.length;
  };
  const seal = async (plaintext: Buffer, last: boolean) => {
    const sealed = keys.encrypt(keyNumber, plaintext, associatedData(headerDigest, index, last));
    if (!sealed.ok) throw new Error(sealed.message);
    const length = Buffer.alloc(chunkLengthBytes);
    length.writeUInt32BE(sealed.value.length);
    await write(Buffer.concat([length, sealed.value]));
    index += 1;
  };
  const append = async (line: string) => {
    const data = Buffer.from(`${line}\n`);
    pending.push(data);
    pendingBytes += data.length;
    while (pendingBytes >= archiveChunkBytesMax) {
      const all = Buffer.concat(pending);
      await seal(all.subarray(0, archiveChunkBytesMax), false);
      pending = [all.subarray(archiveChunkBytesMax)];
      pendingBytes = pending[0]!.length;
    }
  };
  try {
    await write(Buffer.from(headerText));
    for (const { device, rows } of sources)
      for await (const { table, row } of rows) {
        const encoded: Record<string, unknown> = {};
        for (const [column, value] of Object.entries(row)) encoded[column] = encodeValue(value);
        await append(JSON.stringify({ d: device, t: table, r: encoded }));
        rowCount += 1;
      }
    await append(JSON.stringify({ end: true, rows: rowCount }));
    await seal(Buffer.concat(pending), true);
    await file.sync();
    await file.close();
    await rename(partial, path);
    return ok({ rowCount, bytes });
  } catch (error) {
    await file.close().catch(() => undefined);
    await rm(partial, { force: true });
    throw error;
  }
}

/** Read exactly `length` bytes at `position`, or fewer at the end of the file. */
async function readAt(file: FileHandle, length: number, position: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await file.read(buffer, 0, length, position);
  return buffer.subarray(0, bytesRead);
}

const invalid = (message: string) => fail('ArchiveInvalid', message);

/**
 * Every row of an archive, in order, decrypted and checked: the header, each chunk's
 * authentication, each row's device, table and columns, and the closing row count. Rows are
 * yielded only from chunks that authenticated; the first problem ends it with a failure.
 */
/**
 * Tables that archives made by earlier versions hold and stores no longer keep: `account_keys`
 * copied who signs for each account, which is now read from the account openings in A.
 */
const retiredTables: ReadonlySet<string> = new Set(['account_keys']);

async function* archiveRows(
  path: string,
  keys: SignatureDevice,
): AsyncGenerator<ArchivedRow, Result<ArchiveSummary>> {
  let file: FileHandle;
  try {
    file = await open(path, 'r');
  } catch (error) {
    return fail('InvalidInput', `cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    const size = (await file.stat()).size;
    const start = await readAt(file, archiveMagic.length + archiveHeaderBytesMax, 0);
    if (start.subarray(0, archiveMagic.length).toString() !== archiveMagic)
      return invalid(`${path} is not a triledger archive (version 1)`);
    const headerEnd = start.indexOf('\n', archiveMagic.length);
    if (headerEnd < 0) return invalid('the archive header is cut or too long');
    const headerText = start.subarray(0, headerEnd + 1);
    let header: ArchiveHeader;
    try {
      header = JSON.parse(headerText.subarray(archiveMagic.length).toString());
    } catch {
      return invalid('the archive header is not JSON');
    }
    if (
      header.format !== 'triledger-archive' ||
      header.version !== 1 ||
      !Number.isInteger(header.keyNumber)
    )
      return invalid('the archive header is not a version 1 triledger header');
    const headerDigest = createHash('sha256').update(headerText).digest();
    const rows = Object.fromEntries(deviceKinds.map((d) => [d, {}])) as ArchiveSummary['rows'];
    let rowCount = 0;
    let ended = false;
    let carry = Buffer.alloc(0);
    let position = headerText.length;
    for (let index = 0; position < size; index++) {
      const lengthBytes = await readAt(file, chunkLengthBytes, position);
      if (lengthBytes.length < chunkLengthBytes) return invalid('the archive is cut in a chunk');
      const length = lengthBytes.readUInt32BE();
      if (length < aesGcmIvBytes + aesGcmTagBytes || length > sealedChunkBytesMax)
        return invalid(`chunk ${index} has an impossible length`);
      const sealed = await readAt(file, length, position + chunkLengthBytes);
      if (sealed.length < length) return invalid('the archive is cut in a chunk');
      position += chunkLengthBytes + length;
      const last = position >= size;
      const plaintext = keys.decrypt(
        header.keyNumber,
        sealed,
        associatedData(headerDigest, index, last),
      );
      if (!plaintext.ok)
        return plaintext.code === 'DecryptionFailed'
          ? invalid(
              `chunk ${index} does not authenticate under key ${header.keyNumber}: the archive was altered, cut or sealed with another key`,
            )
          : plaintext;
      carry = Buffer.concat([carry, plaintext.value]);
      for (let newline = carry.indexOf(10); newline >= 0; newline = carry.indexOf(10)) {
        const line = carry.subarray(0, newline);
        carry = carry.subarray(newline + 1);
        if (ended) return invalid('rows follow the closing line');
        const parsed = parseLine(line, rowCount + 1);
        if (!parsed.ok) return parsed;
        if (typeof parsed.value === 'number') {
          if (parsed.value !== rowCount)
            return invalid(`the archive says ${parsed.value} rows and holds ${rowCount}`);
          ended = true;
          continue;
        }
        const row = parsed.value;
        rowCount += 1;
        // Rows of tables that are no longer kept (their content is derived from A) are read past.
        if (retiredTables.has(row.table)) continue;
        rows[row.device][row.table] = (rows[row.device][row.table] ?? 0) + 1;
        yield row;
      }
      if (carry.length > archiveLineBytesMax) return invalid('a row line is too long');
    }
    if (!ended || carry.length > 0) return invalid('the archive has no closing line');
    return ok({ header, rows, rowCount });
  } finally {
    await file.close();
  }
}

/** One plaintext line: a row, checked against its table, or the closing row count. */
function parseLine(line: Buffer, rowNumber: number): Result<ArchivedRow | number> {
  let parsed: { d?: unknown; t?: unknown; r?: unknown; end?: unknown; rows?: unknown };
  try {
    parsed = JSON.parse(line.toString());
  } catch {
    return invalid(`row ${rowNumber} is not JSON`);
  }
  if (parsed.end === true)
    return typeof parsed.rows === 'number'
      ? ok(parsed.rows)
      : invalid('the closing line has no count');
  const device = parsed.d as DeviceKind;
  if (!deviceKinds.includes(device) || typeof parsed.t !== 'string' || !parsed.r)
    return invalid(`row ${rowNumber} names no device and table`);
  const row: Record<string, DumpValue> = {};
  for (const [column, value] of Object.entries(parsed.r as object)) {
    const decoded = decodeValue(value);
    if (decoded === undefined)
      return invalid(`row ${rowNumber}: column ${column} holds no stored value`);
    row[column] = decoded;
  }
  const archived: ArchivedRow = { device, table: parsed.t, row };
  if (!retiredTables.has(archived.table) && !dumpTableOf(device, archived))
    return invalid(`row ${rowNumber} does not fit table ${parsed.t} of the ${device} store`);
  return ok(archived);
}

/** Read and check the whole archive without keeping anything: what an import does before writing. */
export async function verifyArchive(
  path: string,
  keys: SignatureDevice,
): Promise<Result<ArchiveSummary>> {
  const reader = archiveRows(path, keys);
  for (;;) {
    const step = await reader.next();
    if (step.done) return step.value;
  }
}

/**
 * The rows of one device, read again from an archive that `verifyArchive` passed. Should the file
 * have changed since so that it no longer verifies, the iteration throws (the import's transaction
 * for that store rolls back).
 */
export async function* archivedRows(
  path: string,
  keys: SignatureDevice,
  device: DeviceKind,
): AsyncGenerator<DumpRow> {
  const reader = archiveRows(path, keys);
  for (;;) {
    const step = await reader.next();
    if (step.done) {
      if (!step.value.ok)
        throw new Error(`the archive changed after it was verified: ${step.value.message}`);
      return;
    }
    if (step.value.device === device) yield { table: step.value.table, row: step.value.row };
  }
}

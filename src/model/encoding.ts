// The one deterministic byte encoding of a record, the bytes that every signature covers.
//
// A record type is a tag and an ordered list of typed fields. The encoding is a 4-byte header
// ("TL", format version, record type tag) followed by every field in declared order, each in a
// fixed-width or length-prefixed form, big-endian. No field is left out, timestamps included, and
// two different records never share an encoding (every variable-length field carries its length,
// optional fields carry a presence byte, the tag separates record types). Specification and worked
// example: docs/encoding.md. Test vectors: test/vectors/record-encoding.json.

import { assert, InvariantViolation } from './assert.js';

export const encodingVersion = 1;
export const textBytesMax = 64 * 1024;
export const bytesFieldBytesMax = 64 * 1024;

export type FieldType = 'u32' | 'u64' | 'i64' | 'timestamp' | 'text' | 'bytes';

export interface FieldSpec {
  readonly name: string;
  readonly type: FieldType;
  readonly optional?: boolean;
}

export interface RecordType {
  readonly name: string;
  /** One byte that separates record types, so a signature over one type never fits another. */
  readonly tag: number;
  readonly fields: readonly FieldSpec[];
}

/** u32: number; u64, i64, timestamp (ms since epoch, UTC): bigint; text: string; bytes: Uint8Array. */
export type FieldValue = number | bigint | string | Uint8Array;
export type RecordValues = Readonly<Record<string, FieldValue | undefined>>;

const u64Max = (1n << 64n) - 1n;
const i64Min = -(1n << 63n);
const i64Max = (1n << 63n) - 1n;
/** The header before the first field: "TL", the format version, the record type's tag. */
export const encodingHeaderBytes = 4;

export function defineRecordType(
  name: string,
  tag: number,
  fields: readonly FieldSpec[],
): RecordType {
  assert(
    Number.isInteger(tag) && tag > 0 && tag < 256,
    `record type ${name}: tag must be one byte`,
  );
  assert(
    new Set(fields.map((f) => f.name)).size === fields.length,
    `record type ${name}: duplicate field`,
  );
  return Object.freeze({ name, tag, fields: Object.freeze([...fields]) });
}

/**
 * Encode `values` as `type`. Every declared field must be present unless optional; a field that is
 * not declared is an error (no byte outside the signature, and no value silently ignored).
 * Two passes: check every value and measure it, then write all into one buffer. This runs for
 * every record signed, verified and audited (millions in a full audit), so it allocates the output
 * alone and builds an error message only when a value is refused.
 */
export function encodeRecord(type: RecordType, values: RecordValues): Buffer {
  const names = fieldNamesOf(type);
  for (const key in values) if (!names.has(key)) refuse(`${type.name}: unknown field ${key}`);
  const fields = type.fields;
  let size = encodingHeaderBytes;
  // Indexed loops, not for...of: over the record type's frozen list of fields V8 allocated an
  // iterator result per field (about 1 KiB per record encoded, the largest allocation site of a
  // device under load, docs/performance.md).
  for (let index = 0; index < fields.length; index++) {
    const field = fields[index]!;
    const value = values[field.name];
    if (field.optional) size += 1;
    if (value === undefined) {
      if (!field.optional) refuse(`${type.name}.${field.name} is required`);
      continue;
    }
    size += checkedFieldBytes(type, field, value);
  }
  const out = Buffer.allocUnsafe(size);
  // The 64-bit fields through a DataView: Buffer's writeBig*64BE check the range again, about
  // 0.1 us each (checkedFieldBytes has checked it).
  const view = new DataView(out.buffer, out.byteOffset, size);
  out[0] = 0x54;
  out[1] = 0x4c;
  out[2] = encodingVersion;
  out[3] = type.tag;
  let offset = encodingHeaderBytes;
  for (let index = 0; index < fields.length; index++) {
    const field = fields[index]!;
    const value = values[field.name];
    if (field.optional) out[offset++] = value === undefined ? 0 : 1;
    if (value === undefined) continue;
    switch (field.type) {
      case 'u32':
        offset = out.writeUInt32BE(value as number, offset);
        break;
      case 'u64':
        view.setBigUint64(offset, value as bigint);
        offset += 8;
        break;
      case 'i64':
      case 'timestamp':
        view.setBigInt64(offset, value as bigint);
        offset += 8;
        break;
      case 'text': {
        // Measured by checkedFieldBytes; written straight into the output, without a copy.
        const written = out.write(value as string, offset + 4, 'utf8');
        out.writeUInt32BE(written, offset);
        offset += 4 + written;
        break;
      }
      case 'bytes': {
        const bytes = value as Uint8Array;
        offset = out.writeUInt32BE(bytes.length, offset);
        out.set(bytes, offset);
        offset += bytes.length;
        break;
      }
    }
  }
  assert(offset === size, 'the encoding fills exactly the bytes measured');
  return out;
}

const fieldNames = new WeakMap<RecordType, ReadonlySet<string>>();

function fieldNamesOf(type: RecordType): ReadonlySet<string> {
  let names = fieldNames.get(type);
  if (!names) {
    names = new Set(type.fields.map((f) => f.name));
    fieldNames.set(type, names);
  }
  return names;
}

function refuse(message: string): never {
  throw new InvariantViolation(message);
}

function refuseField(type: RecordType, field: FieldSpec, problem: string): never {
  return refuse(`${type.name}.${field.name}: ${problem}`);
}

/** Check a value against its field type; returns the bytes it takes in the encoding. */
function checkedFieldBytes(type: RecordType, field: FieldSpec, value: FieldValue): number {
  switch (field.type) {
    case 'u32':
      if (typeof value !== 'number' || !Number.isInteger(value))
        return refuseField(type, field, 'u32 must be an integer');
      if (value < 0 || value > 0xffff_ffff) return refuseField(type, field, 'u32 out of range');
      return 4;
    case 'u64':
      if (typeof value !== 'bigint' || value < 0n || value > u64Max)
        return refuseField(type, field, 'u64 out of range');
      return 8;
    case 'i64':
    case 'timestamp':
      if (typeof value !== 'bigint' || value < i64Min || value > i64Max)
        return refuseField(type, field, 'i64 out of range');
      return 8;
    case 'text': {
      if (typeof value !== 'string' || !isWellFormed(value))
        return refuseField(type, field, 'text must be well-formed');
      const length = Buffer.byteLength(value, 'utf8');
      if (length > textBytesMax)
        return refuseField(type, field, `text longer than ${textBytesMax} bytes`);
      return 4 + length;
    }
    case 'bytes':
      if (!(value instanceof Uint8Array))
        return refuseField(type, field, 'bytes must be a Uint8Array');
      if (value.length > bytesFieldBytesMax)
        return refuseField(type, field, `bytes longer than ${bytesFieldBytesMax}`);
      return 4 + value.length;
  }
}

/** No lone surrogates: such a string would encode to the same UTF-8 as another string. */
export function isWellFormed(text: string): boolean {
  // String.prototype.isWellFormed is in Node 20, but not in the ES2023 library types.
  return (text as unknown as { isWellFormed(): boolean }).isWellFormed();
}

/** Whether every byte is below 0x80: UTF-8 that decodes to the same characters, one per byte. */
function isAscii(bytes: Uint8Array): boolean {
  for (let index = 0; index < bytes.length; index++) if (bytes[index]! > 0x7f) return false;
  return true;
}

/**
 * Decode bytes produced by encodeRecord. Used to read records back and check them (pair
 * assertions), and by the audit. Returns undefined when the bytes are not a well-formed record of
 * this type: a decoder fed stored bytes must not crash on damage, it must report it. An absent
 * optional field is left out of the values (as encodeRecord takes them), so that they are a
 * record's fields as they are, with no copy to drop the absent ones.
 */
export function decodeRecord(
  type: RecordType,
  bytes: Uint8Array,
): Record<string, FieldValue> | undefined {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const numbers = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.length < encodingHeaderBytes || view[0] !== 0x54 || view[1] !== 0x4c) return undefined;
  if (view[2] !== encodingVersion || view[3] !== type.tag) return undefined;
  const values: Record<string, FieldValue> = {};
  let offset = encodingHeaderBytes;
  const need = (n: number) => offset + n <= view.length;
  const fields = type.fields;
  for (let index = 0; index < fields.length; index++) {
    const field = fields[index]!;
    if (field.optional) {
      if (!need(1)) return undefined;
      const present = view[offset++];
      if (present === 0) continue;
      if (present !== 1) return undefined;
    }
    switch (field.type) {
      case 'u32':
        if (!need(4)) return undefined;
        values[field.name] = view.readUInt32BE(offset);
        offset += 4;
        break;
      case 'u64':
        if (!need(8)) return undefined;
        values[field.name] = numbers.getBigUint64(offset);
        offset += 8;
        break;
      case 'i64':
      case 'timestamp':
        if (!need(8)) return undefined;
        values[field.name] = numbers.getBigInt64(offset);
        offset += 8;
        break;
      case 'text':
      case 'bytes': {
        if (!need(4)) return undefined;
        const length = view.readUInt32BE(offset);
        const lengthMax = field.type === 'text' ? textBytesMax : bytesFieldBytesMax;
        offset += 4;
        if (length > lengthMax || !need(length)) return undefined;
        const slice = view.subarray(offset, offset + length);
        offset += length;
        if (field.type === 'bytes') {
          values[field.name] = new Uint8Array(slice);
        } else {
          const text = slice.toString('utf8'); // a malformed sequence decodes to U+FFFD
          // Only the canonical UTF-8 of a string is accepted: re-encoding must give the same bytes.
          // ASCII is canonical by itself (every text field of a remittance's records is ASCII):
          // the re-encoding, a buffer per field, is made only for other bytes.
          if (!isAscii(slice) && !Buffer.from(text, 'utf8').equals(slice)) return undefined;
          values[field.name] = text;
        }
        break;
      }
    }
  }
  return offset === view.length ? values : undefined;
}

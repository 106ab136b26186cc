// Turns a vector's JSON values into typed field values: 64-bit fields are decimal strings in JSON.
import type { FieldValue, RecordType } from '../../src/model/encoding.js';

export function valuesFromJson(
  type: RecordType,
  json: Readonly<Record<string, string | number | undefined>>,
): Record<string, FieldValue> {
  const values: Record<string, FieldValue> = {};
  for (const [name, value] of Object.entries(json)) {
    if (value === undefined) continue;
    const field = type.fields.find((f) => f.name === name);
    if (!field) throw new Error(`vector names unknown field ${name}`);
    const wide = field.type === 'u64' || field.type === 'i64' || field.type === 'timestamp';
    values[name] = wide ? BigInt(value) : value;
  }
  return values;
}

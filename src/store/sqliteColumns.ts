// How the SQLite backend selects a row's columns: its signature as hex text, not as a BLOB.
//
// better-sqlite3 makes each BLOB it returns a Buffer of its own (a native allocation with its own
// backing store, which the collector then tracks and frees): about 1.7 us a column here, where the
// same bytes selected as `hex(signature)` and decoded by Buffer.from into Node's shared pool cost
// 0.9 (a throwaway loop over 120,000 records: 2.45 us a row against 1.79). Every step at every
// device reads records, accounts or units, each with its signature, and the continuous audit reads
// every record back. Only NOT NULL columns are selected this way: hex(NULL) is '', not NULL.
// rows.ts decodes the text (bytesOf).

/** The signature column, selected as hex text under its own name. */
const signatureSelected = 'hex(signature) AS signature';

/** A SELECT list of `columns` with the signature as hex text. */
export function selectedColumns(columns: readonly string[]): string {
  return columns.map((column) => (column === 'signature' ? signatureSelected : column)).join(', ');
}

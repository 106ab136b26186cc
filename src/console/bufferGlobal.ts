// The protocol code the devices use (record encoding, chained signatures) works on Node's Buffer.
// In the browser it gets the `buffer` package's Buffer, the same API; this module runs first.
import { Buffer } from 'buffer';

(globalThis as { Buffer?: unknown }).Buffer ??= Buffer;

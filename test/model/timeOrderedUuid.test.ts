// Request ids sort by time (UUIDv7, RFC 9562), so that the stores that key operations
// by request id append to their indexes instead of writing all over them (issue 17).
import { describe, expect, it } from 'vitest';
import { timeOrderedUuid } from '../../src/model/timeOrderedUuid.js';

describe('timeOrderedUuid', () => {
  it("gives RFC 9562's example UUIDv7", () => {
    const random = Buffer.from('0cc318c4dc0c0c07398f', 'hex');
    expect(timeOrderedUuid(0x017f22e279b0, random)).toBe('017f22e2-79b0-7cc3-98c4-dc0c0c07398f');
  });

  it('sorts by time whatever the random bits, and is a request id the API takes', () => {
    const early = timeOrderedUuid(1_796_000_000_000, Buffer.alloc(10, 0xff));
    const late = timeOrderedUuid(1_796_000_000_001, Buffer.alloc(10, 0x00));
    expect(early < late).toBe(true);
    expect(late).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

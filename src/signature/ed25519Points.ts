// Which Ed25519 public keys are refused: those that let a signature verify without a private key.
//
// node:crypto (OpenSSL) verifies by RFC 8032's cofactorless equation and does not look at the key
// itself. A small-order key A (the identity, or a point of order 2, 4 or 8) makes [k]A vanish, so
// the constant "signature" R = A, S = 0 verifies for every message under it. A key is therefore
// accepted only when it is a canonical encoding (y < p, and no sign bit on x = 0) of a point on
// the curve whose order is not small ([8]A is not the identity). A mixed-order key (a point of
// the prime-order subgroup plus a small torsion part) is not refused: forging under it still
// needs the discrete logarithm of its prime-order part, and ruling it out costs a full scalar
// multiplication by L (about 2 ms a key in bigint), paid at every start for every account key.
// The check runs once per key, when it enters a keystore (signature/device.ts): at account
// opening, at loading, at import.
//
// The arithmetic is RFC 8032 section 5.1 on extended coordinates, with bigint: plain, and only
// paid when a key is added (one square root and a multiplication by 8).

const p = 2n ** 255n - 19n;
const d = mod(-121665n * inverse(121666n));
const sqrtMinusOne = power(2n, (p - 1n) / 4n);

interface Point {
  readonly x: bigint;
  readonly y: bigint;
  readonly z: bigint;
  readonly t: bigint;
}

const identity: Point = { x: 0n, y: 1n, z: 1n, t: 0n };

function mod(value: bigint): bigint {
  const r = value % p;
  return r < 0n ? r + p : r;
}

function power(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % p;
    b = (b * b) % p;
  }
  return result;
}

function inverse(value: bigint): bigint {
  return power(value, p - 2n);
}

function add(a: Point, b: Point): Point {
  const A = mod((a.y - a.x) * (b.y - b.x));
  const B = mod((a.y + a.x) * (b.y + b.x));
  const C = mod(a.t * 2n * d * b.t);
  const D = mod(a.z * 2n * b.z);
  const E = B - A;
  const F = D - C;
  const G = D + C;
  const H = B + A;
  return { x: mod(E * F), y: mod(G * H), z: mod(F * G), t: mod(E * H) };
}

function multiply(point: Point, scalar: bigint): Point {
  let result = identity;
  let addend = point;
  for (let s = scalar; s > 0n; s >>= 1n) {
    if (s & 1n) result = add(result, addend);
    addend = add(addend, addend);
  }
  return result;
}

function isIdentity(point: Point): boolean {
  return point.x === 0n && point.y === point.z;
}

/** The point a 32-byte encoding names, or why it names none (RFC 8032 5.1.3, strict). */
function decode(encoded: Uint8Array): Point | string {
  if (encoded.length !== 32) return 'an Ed25519 public key is 32 bytes';
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(encoded[i]!);
  const sign = y >> 255n;
  y &= (1n << 255n) - 1n;
  if (y >= p) return 'the key is not a canonical encoding (y is not below p)';
  const u = mod(y * y - 1n);
  const v = mod(d * y * y + 1n);
  let x = mod(u * power(v, 3n) * power(u * power(v, 7n), (p - 5n) / 8n));
  const vxx = mod(v * x * x);
  if (vxx === mod(-u)) x = mod(x * sqrtMinusOne);
  else if (vxx !== u) return 'the key is not a point on the curve';
  if (x === 0n && sign === 1n) return 'the key is not a canonical encoding (x = 0 with a sign)';
  if ((x & 1n) !== sign) x = p - x;
  return { x, y, z: 1n, t: mod(x * y) };
}

/** Why an Ed25519 public key must be refused, or undefined when it may be used. */
export function ed25519PublicKeyProblem(encoded: Uint8Array): string | undefined {
  const point = decode(encoded);
  if (typeof point === 'string') return point;
  if (isIdentity(multiply(point, 8n)))
    return 'the key is a point of small order: any message would verify under it';
  return undefined;
}

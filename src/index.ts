// The package's public API: what a program embedding triledger imports.

export * from './model/encoding.js';
export { type Environment, systemEnvironment } from './model/environment.js';
export * from './model/errors.js';
export * from './model/records.js';
export * from './signature/chain.js';
export * from './signature/device.js';
export * from './signature/keys.js';
export * from './signature/keystoreFile.js';

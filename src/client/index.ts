// The SDK: what a program that talks to a triledger deployment imports, as `triledger/client`.
//
// A terminal client (accounts, issuance, remittances, reads; every answer's signature chain checked
// before it is returned), the operator client (audit, recovery), the signature device that holds
// the keys they sign with, and keystore files. Only client code is reachable from here: nothing
// of the devices or their stores is loaded (no native module), so a program that only talks to a
// deployment carries none of the server. Failures are values (`Result`, the codes of
// docs/errors.md), never exceptions.

export { type Environment, systemEnvironment } from '../model/environment.js';
export {
  type ErrorCode,
  errorCatalogue,
  type Failure,
  type Result,
} from '../model/errors.js';
export type { SignedRecord } from '../protocol/records.js';
export { verifyOperationChain } from '../protocol/records.js';
export { type NewKey, type PublicKeyExport, SignatureDevice } from '../signature/device.js';
export type { Algorithm, Authority, KeyDescriptor } from '../signature/keys.js';
export {
  createKeystoreFile,
  loadKeystoreFile,
  saveKeystoreFile,
} from '../signature/keystoreFile.js';
export { OperatorClient, type ProgressListener } from './operator.js';
export {
  clientTimeoutMs,
  type DeploymentInfo,
  type OperationRefusal,
  type OperationResult,
  type RemitArgs,
  TerminalClient,
} from './terminal.js';

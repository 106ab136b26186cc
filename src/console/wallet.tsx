// The browser wallet (/wallet): a user's Ed25519 key, made or imported in the page and kept in the
// browser only encrypted (PBKDF2 from the user's passphrase, AES-GCM), its public key shown and its
// encrypted form offered as a backup file (restored on another browser, unlocked with the same
// passphrase); an account opened with it; balance, units and history; remittances signed here and
// their receipts checked here.
import './bufferGlobal.js';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { WireRecord } from '../protocol/wire.js';
import {
  ApiError,
  checkReceipt,
  type Deployment,
  formatTime,
  fromHex,
  getJson,
  hex,
  importPrivateKey,
  type KeyPair,
  own,
  pkcs8OfSeed,
  postJson,
  type ReceiptLine,
  receiptVerdict,
  signedGetJson,
  signRequest,
  timeOrderedId,
} from './browser.js';
import { ErrorLine, Field, Form, Head } from './ui.js';

const storageKey = 'triledger.wallet';
const pbkdf2Iterations = 310_000;

interface StoredWallet {
  readonly salt: string;
  readonly iv: string;
  readonly sealed: string;
  readonly publicKeyHex: string;
  readonly accountNumber?: string;
}

async function wrappingKey(passphrase: string, salt: Uint8Array): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(passphrase),
    'PBKDF2',
    false,
    ['deriveKey'],
  );
  return crypto.subtle.deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt: own(salt), iterations: pbkdf2Iterations },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

/** Keep the private key only encrypted under the passphrase; returns the wallet as stored. */
async function seal(pkcs8: Uint8Array, passphrase: string, publicKeyHex: string) {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv },
    await wrappingKey(passphrase, salt),
    own(pkcs8),
  );
  const stored: StoredWallet = {
    salt: hex(salt),
    iv: hex(iv),
    sealed: hex(new Uint8Array(sealed)),
    publicKeyHex,
  };
  localStorage.setItem(storageKey, JSON.stringify(stored));
  return stored;
}

async function unseal(stored: StoredWallet, passphrase: string): Promise<KeyPair> {
  let pkcs8: Uint8Array;
  try {
    pkcs8 = new Uint8Array(
      await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: fromHex(stored.iv) },
        await wrappingKey(passphrase, fromHex(stored.salt)),
        fromHex(stored.sealed),
      ),
    );
  } catch {
    throw new ApiError('DecryptionFailed', 'wrong passphrase');
  }
  try {
    return await importPrivateKey(pkcs8);
  } finally {
    pkcs8.fill(0);
  }
}

function loadStored(): StoredWallet | undefined {
  const text = localStorage.getItem(storageKey);
  return text ? (JSON.parse(text) as StoredWallet) : undefined;
}

/** What a backup file holds: the wallet exactly as kept here, its key still encrypted. */
const backupFormat = 'triledger-wallet-backup';
const backupVersion = 1;
const backupBytesMax = 64 * 1024;

function backupOf(stored: StoredWallet): string {
  return JSON.stringify({ format: backupFormat, version: backupVersion, ...stored }, null, 2);
}

/** A backup file read back: every field checked, or InvalidInput saying what is wrong. */
function walletOfBackup(text: string): StoredWallet {
  const refuse = (why: string): never => {
    throw new ApiError('InvalidInput', `not a triledger wallet backup: ${why}`);
  };
  if (text.length > backupBytesMax) refuse('the file is too large');
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return refuse('the file is not JSON');
  }
  if (parsed['format'] !== backupFormat || parsed['version'] !== backupVersion)
    refuse(`it is not a ${backupFormat} of version ${backupVersion}`);
  const hexOf = (name: string, bytes?: number) => {
    const value = parsed[name];
    const pattern =
      bytes === undefined ? /^([0-9a-f]{2})+$/ : new RegExp(`^[0-9a-f]{${2 * bytes}}$`);
    if (typeof value !== 'string' || !pattern.test(value))
      refuse(`${name} is missing or malformed`);
    return value as string;
  };
  const accountNumber = parsed['accountNumber'];
  if (
    accountNumber !== undefined &&
    (typeof accountNumber !== 'string' || !/^[1-9][0-9]{0,18}$/.test(accountNumber))
  )
    refuse('accountNumber is malformed');
  return {
    salt: hexOf('salt', 16),
    iv: hexOf('iv', 12),
    sealed: hexOf('sealed'),
    publicKeyHex: hexOf('publicKeyHex', 32),
    ...(accountNumber === undefined ? {} : { accountNumber: accountNumber as string }),
  };
}

/** Offer `stored` as a file to keep: the key inside stays encrypted under the passphrase. */
function downloadBackup(stored: StoredWallet): void {
  const url = URL.createObjectURL(new Blob([backupOf(stored)], { type: 'application/json' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = `triledger-wallet-${stored.publicKeyHex.slice(0, 8)}.json`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

function Wallet() {
  const [deployment, setDeployment] = useState<Deployment>();
  const [stored, setStored] = useState<StoredWallet | undefined>(loadStored);
  const [keys, setKeys] = useState<KeyPair>();
  const [error, setError] = useState('');
  useEffect(() => {
    getJson<Deployment>('/v1/deployment').then(setDeployment, (e: Error) => setError(e.message));
  }, []);
  const guard = (work: () => Promise<void>) => () => {
    setError('');
    work().catch((e: Error) =>
      setError(e instanceof ApiError ? `${e.code}: ${e.message}` : e.message),
    );
  };
  const remember = (next: StoredWallet) => {
    localStorage.setItem(storageKey, JSON.stringify(next));
    setStored(next);
  };

  return (
    <>
      <header>
        <h1>triledger wallet</h1>
        <span class="muted">{stored?.accountNumber ? `account ${stored.accountNumber}` : ''}</span>
      </header>
      <main>
        <ErrorLine error={error} />
        {!stored && (
          <NewKey
            onDone={guard}
            onStored={setStored}
            onKeys={setKeys}
            onRestored={(restored) => remember(restored)}
          />
        )}
        {stored && <KeyCard stored={stored} />}
        {stored && !keys && <Unlock stored={stored} onKeys={setKeys} guard={guard} />}
        {stored && keys && deployment && !stored.accountNumber && (
          <OpenAccount
            deployment={deployment}
            keys={keys}
            guard={guard}
            onOpened={(n) => remember({ ...stored, accountNumber: n })}
          />
        )}
        {stored?.accountNumber && keys && deployment && (
          <AccountView
            deployment={deployment}
            keys={keys}
            accountNumber={stored.accountNumber}
            guard={guard}
          />
        )}
      </main>
    </>
  );
}

type Guard = (work: () => Promise<void>) => () => void;

function NewKey(props: {
  onDone: Guard;
  onStored: (s: StoredWallet) => void;
  onKeys: (k: KeyPair) => void;
  onRestored: (s: StoredWallet) => void;
}) {
  const [passphrase, setPassphrase] = useState('');
  const [seedHex, setSeedHex] = useState('');
  const create = props.onDone(async () => {
    if (passphrase.length < 8)
      throw new ApiError('InvalidInput', 'choose a passphrase of 8 characters or more');
    const seed = seedHex ? fromHex(seedHex.trim()) : crypto.getRandomValues(new Uint8Array(32));
    const pkcs8 = pkcs8OfSeed(seed);
    seed.fill(0);
    const keys = await importPrivateKey(pkcs8);
    props.onStored(await seal(pkcs8, passphrase, keys.publicKeyHex));
    pkcs8.fill(0);
    props.onKeys(keys);
  });
  return (
    <section>
      <h2>Your key</h2>
      <p class="muted">
        An Ed25519 key made in this page. Its private half is kept in this browser only encrypted
        with your passphrase, and never sent anywhere.
      </p>
      <Form onSubmit={() => create()}>
        <Field
          type="password"
          label="passphrase"
          placeholder="passphrase"
          size={12}
          value={passphrase}
          onChange={setPassphrase}
        />
        <Field
          label="import key"
          placeholder="import a key: 64 hex (optional)"
          size={40}
          value={seedHex}
          onChange={setSeedHex}
        />
        <button type="submit">{seedHex ? 'Import key' : 'Create key'}</button>
      </Form>
      <p class="muted">
        Or restore a backup this wallet made (the key in it stays encrypted: unlock it with its
        passphrase):{' '}
        <input
          type="file"
          aria-label="restore backup"
          accept="application/json,.json"
          onChange={(event) => {
            const file = (event.currentTarget as HTMLInputElement).files?.[0];
            if (file)
              props.onDone(async () => props.onRestored(walletOfBackup(await file.text())))();
          }}
        />
      </p>
    </section>
  );
}

/** The wallet's public key, and its backup: the wallet as kept here, the key encrypted. */
function KeyCard(props: { stored: StoredWallet }) {
  return (
    <section>
      <p class="muted mono">public key {props.stored.publicKeyHex}</p>
      <button type="button" class="secondary" onClick={() => downloadBackup(props.stored)}>
        Download encrypted backup
      </button>{' '}
      <span class="muted">
        Keep it apart from the passphrase: with both, anyone can spend from this account.
      </span>
    </section>
  );
}

function Unlock(props: { stored: StoredWallet; onKeys: (k: KeyPair) => void; guard: Guard }) {
  const [passphrase, setPassphrase] = useState('');
  const unlock = props.guard(async () => props.onKeys(await unseal(props.stored, passphrase)));
  return (
    <section>
      <h2>Unlock</h2>
      <Form onSubmit={() => unlock()}>
        <Field
          type="password"
          label="passphrase"
          placeholder="passphrase"
          size={12}
          value={passphrase}
          onChange={setPassphrase}
        />
        <button type="submit">Unlock</button>
        <button
          type="button"
          class="secondary"
          onClick={() => {
            if (confirm('Forget this key? Without a copy it is gone.')) {
              localStorage.removeItem(storageKey);
              location.reload();
            }
          }}
        >
          Forget key
        </button>
      </Form>
    </section>
  );
}

function OpenAccount(props: {
  deployment: Deployment;
  keys: KeyPair;
  guard: Guard;
  onOpened: (n: string) => void;
}) {
  const [currencyType, setCurrencyType] = useState('JPY');
  const open = props.guard(async () => {
    const body = {
      requestId: timeOrderedId(),
      currencyType,
      publicKeyHex: props.keys.publicKeyHex,
      dateTime: new Date().toISOString(),
    };
    const signed = await signRequest(
      props.deployment,
      { kind: 'account_issuing', body },
      props.keys.privateKey,
    );
    const reply = await postJson('/v1/accounts', { ...body, signature: hex(signed.signature) });
    const lines = await checkReceipt(props.deployment, signed, reply['records'] as WireRecord[]);
    if (!lines.every((l) => l.ok))
      throw new ApiError('SignatureInvalid', 'the reply does not verify');
    props.onOpened(String(reply['accountNumber']));
  });
  return (
    <section>
      <h2>Open an account</h2>
      <Form onSubmit={() => open()}>
        <Field
          label="currency type"
          placeholder="currency type"
          size={6}
          value={currencyType}
          onChange={setCurrencyType}
        />
        <button type="submit">Open account</button>
      </Form>
    </section>
  );
}

interface AccountRow {
  balance: string;
  held: string;
  available: string;
  currencyType: string;
  lastUpdate: string;
}

function AccountView(props: {
  deployment: Deployment;
  keys: KeyPair;
  accountNumber: string;
  guard: Guard;
}) {
  const [account, setAccount] = useState<AccountRow>();
  const [units, setUnits] = useState<{ currencyNumber: string; value: string; status: string }[]>(
    [],
  );
  const [history, setHistory] = useState<Record<string, string>[]>([]);
  const [receipt, setReceipt] = useState<ReceiptLine[]>();
  const [destination, setDestination] = useState('');
  const [amount, setAmount] = useState('');
  const base = `/v1/accounts/${props.accountNumber}`;
  const keyNumber = props.deployment.accountKeyNumberBase + Number(props.accountNumber);
  // The account's reads are signed with its own key, like its remittances.
  const read = <T,>(path: string) => signedGetJson<T>(path, keyNumber, props.keys.privateKey);
  const refresh = props.guard(async () => {
    setAccount(await read<AccountRow>(base));
    setUnits((await read<{ units: typeof units }>(`${base}/currency`)).units);
    setHistory(
      (await read<{ operations: Record<string, string>[] }>(`${base}/transactions?limit=20`))
        .operations,
    );
  });
  useEffect(refresh, [props.accountNumber]);
  const send = props.guard(async () => {
    // A receipt belongs to one remittance: never left on screen under a later one's error.
    setReceipt(undefined);
    const body = {
      requestId: timeOrderedId(),
      sourceAccount: props.accountNumber,
      destinationAccount: destination.trim(),
      amount: amount.trim(),
      currencyType: account?.currencyType ?? 'JPY',
      dateTime: new Date().toISOString(),
      signerKeyNumber: keyNumber,
    };
    const signed = await signRequest(
      props.deployment,
      { kind: 'remittance', body },
      props.keys.privateKey,
    );
    const response = await fetch('/v1/remittances', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, signature: hex(signed.signature) }),
    });
    const reply = (await response.json()) as Record<string, unknown>;
    if (Array.isArray(reply['records']))
      setReceipt(await checkReceipt(props.deployment, signed, reply['records'] as WireRecord[]));
    const failure = reply['error'] as { code: string; message: string } | undefined;
    if (failure) throw new ApiError(failure.code, failure.message);
    await refresh();
  });
  return (
    <>
      <section class="cards">
        <div class="card">
          <h2>Account {props.accountNumber}</h2>
          <p>
            Balance <strong data-testid="balance">{account?.balance}</strong>{' '}
            {account?.currencyType} (held {account?.held}, available {account?.available})
          </p>
          <p class="muted">
            last update {formatTime(account?.lastUpdate)}; row signature checked by the ledger
          </p>
          <button type="button" class="secondary" onClick={refresh}>
            Refresh
          </button>
        </div>
        <div class="card">
          <h2>Send</h2>
          <Form onSubmit={() => send()}>
            <Field
              label="destination account"
              placeholder="to account"
              size={8}
              value={destination}
              onChange={setDestination}
            />
            <Field
              label="amount"
              placeholder="amount"
              size={8}
              value={amount}
              onChange={setAmount}
            />
            <button type="submit">Send</button>
          </Form>
        </div>
      </section>
      {receipt && (
        <section>
          <h2>
            Receipt:{' '}
            <span class={receiptVerdict(receipt).ok ? 'ok' : 'bad'}>
              {receiptVerdict(receipt).text}
            </span>
          </h2>
          <table data-testid="receipt">
            <Head columns={['step', 'type', 'signed by', 'outcome', 'check in this page']} />
            <tbody>
              {receipt.map((line) => (
                <tr key={line.step} class={line.ok ? '' : 'bad'}>
                  <td>a{line.step}</td>
                  <td>{line.record.transactionType}</td>
                  <td>{line.signer}</td>
                  <td>{line.record.outcome ?? ''}</td>
                  <td class={line.ok ? 'ok' : 'bad'}>{line.check}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      <section>
        <h2>Currency units</h2>
        <table>
          <Head columns={['unit', 'value', 'status']} />
          <tbody>
            {units.map((u) => (
              <tr key={u.currencyNumber}>
                <td>{u.currencyNumber}</td>
                <td class="num">{u.value}</td>
                <td>{u.status}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section>
        <h2>History</h2>
        <table>
          <Head columns={['operation', 'from', 'to', 'amount', 'outcome', 'date/time']} />
          <tbody>
            {history.map((h) => (
              <tr key={h['remittanceId']}>
                <td>{h['operation']}</td>
                <td>{h['sourceAccount']}</td>
                <td>{h['destinationAccount']}</td>
                <td class="num">{h['amount']}</td>
                <td>{h['outcome']}</td>
                <td>{formatTime(h['dateTime'])}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </>
  );
}

render(<Wallet />, document.getElementById('app')!);

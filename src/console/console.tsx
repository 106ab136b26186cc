// The operator console (/console): the three devices and their health, the transaction log as the
// patent draws it (FIG. 1F / FIG. 2B), accounts (FIG. 4) and currency units (FIG. 5) with their
// signature status, the audit run from the page with tampered rows highlighted, recovery after a
// confirmation, and charts of throughput and audit status. Every admin call is signed in the page
// with the operator's key (browser.ts); the device checks it, so the page has no power of its own.
import './bufferGlobal.js';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { WireRecord } from '../protocol/wire.js';
import {
  ApiError,
  formatTime,
  fromHex,
  getJson,
  importPrivateKey,
  OperatorSession,
  pkcs8OfSeed,
} from './browser.js';
import { ErrorLine, Field, Form, Head, SignatureCell } from './ui.js';

type Tab = 'overview' | 'log' | 'accounts' | 'audit';

function Console() {
  const [session, setSession] = useState<OperatorSession>();
  const [tab, setTab] = useState<Tab>('overview');
  const tabs: Tab[] = ['overview', 'log', 'accounts', 'audit'];
  return (
    <>
      <header>
        <h1>triledger console</h1>
        {session && (
          <nav>
            {tabs.map((t) => (
              <button
                type="button"
                key={t}
                aria-current={t === tab ? 'page' : undefined}
                onClick={() => setTab(t)}
              >
                {t}
              </button>
            ))}
          </nav>
        )}
        <span class="muted">{session ? `operator key ${session.keyNumber}` : ''}</span>
      </header>
      <main>
        {!session && <SignIn onSession={setSession} />}
        {session && tab === 'overview' && <Overview session={session} />}
        {session && tab === 'log' && <Log session={session} />}
        {session && tab === 'accounts' && <Accounts session={session} />}
        {session && tab === 'audit' && <Audit session={session} />}
      </main>
    </>
  );
}

function errorText(e: unknown): string {
  return e instanceof ApiError
    ? `${e.code}: ${e.message}`
    : e instanceof Error
      ? e.message
      : String(e);
}

function SignIn(props: { onSession: (s: OperatorSession) => void }) {
  const [keyNumber, setKeyNumber] = useState('');
  const [seedHex, setSeedHex] = useState('');
  const [error, setError] = useState('');
  const signIn = async () => {
    setError('');
    try {
      const keys = await importPrivateKey(pkcs8OfSeed(fromHex(seedHex.trim())));
      const session = new OperatorSession(Number(keyNumber), keys.privateKey);
      await session.get('/v1/admin/whoami');
      props.onSession(session);
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <section>
      <h2>Operator sign-in</h2>
      <p class="muted">
        Your operator key (Ed25519) signs every request this page makes; it stays in this page's
        memory and is gone when you close it. <code>triledger keys export-seed</code> prints it.
      </p>
      <Form onSubmit={() => void signIn()}>
        <Field
          label="operator key number"
          placeholder="key number"
          size={8}
          value={keyNumber}
          onChange={setKeyNumber}
        />
        <Field
          type="password"
          label="operator private key"
          placeholder="private key, 64 hex"
          size={48}
          value={seedHex}
          onChange={setSeedHex}
        />
        <button type="submit">Sign in</button>
      </Form>
      <ErrorLine error={error} />
    </section>
  );
}

/** Counter totals from a Prometheus text exposition, summed over labels. */
function counterTotal(text: string, name: string, labelFilter = ''): number {
  let total = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(`${name}{`) && line.includes(labelFilter))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}

interface Sample {
  atMs: number;
  perSecond: number;
  latencyMs: number;
  auditClean: boolean | undefined;
}

function Chart(props: { values: number[]; label: string; unit: string }) {
  const width = 360;
  const height = 80;
  const max = Math.max(1, ...props.values);
  const points = props.values
    .map(
      (v, i) =>
        `${(i / Math.max(1, props.values.length - 1)) * width},${height - (v / max) * (height - 8)}`,
    )
    .join(' ');
  return (
    <figure>
      <svg class="chart" width={width} height={height} role="img" aria-label={props.label}>
        <polyline points={points} fill="none" stroke="#2f5fd0" stroke-width="2" />
      </svg>
      <figcaption class="muted">
        {props.label}: {props.values.at(-1)?.toFixed(1) ?? '-'} {props.unit} (max {max.toFixed(1)})
      </figcaption>
    </figure>
  );
}

/** /ready and /metrics answer only an operator-signed request (or sit on an operations listener). */
function Overview(props: { session: OperatorSession }) {
  const [health, setHealth] = useState<Record<string, unknown>>();
  const [ready, setReady] = useState<Record<string, unknown>>();
  const [samples, setSamples] = useState<Sample[]>([]);
  useEffect(() => {
    let last: { atMs: number; count: number; seconds: number } | undefined;
    const poll = async () => {
      const [h, r, metrics] = await Promise.all([
        getJson('/health'),
        props.session
          .fetch('GET', '/ready')
          .then((x) => x.json() as Promise<Record<string, unknown>>),
        props.session.fetch('GET', '/metrics').then((x) => x.text()),
      ]);
      setHealth(h);
      setReady(r);
      const count = counterTotal(metrics, 'triledger_operations_total', 'operation="remittance"');
      const seconds = counterTotal(
        metrics,
        'triledger_operation_seconds_sum',
        'operation="remittance"',
      );
      const atMs = Date.now();
      const audit = (h['continuousAudit'] as { clean?: boolean } | undefined)?.clean;
      if (last) {
        const done = count - last.count;
        const sample = {
          atMs,
          perSecond: (done * 1000) / (atMs - last.atMs),
          latencyMs: done > 0 ? ((seconds - last.seconds) / done) * 1000 : 0,
          auditClean: audit,
        };
        setSamples((s) => [...s.slice(-59), sample]);
      }
      last = { atMs, count, seconds };
    };
    void poll();
    const timer = setInterval(() => void poll().catch(() => {}), 2000);
    return () => clearInterval(timer);
  }, []);
  const checks = (ready?.['checks'] ?? {}) as {
    store?: boolean;
    peers?: Record<string, boolean>;
    audits?: Record<string, unknown>;
  };
  const operations = health?.['operations'] as { open?: number; unsettled?: number } | undefined;
  const devices = [
    { name: 'transaction', up: health !== undefined },
    ...Object.entries(checks.peers ?? {}).map(([name, up]) => ({ name, up })),
  ];
  return (
    <>
      <section>
        <h2>
          Devices{' '}
          {ready ? (
            ready['ready'] ? (
              <span class="ok">ready</span>
            ) : (
              <span class="bad">not ready</span>
            )
          ) : (
            ''
          )}
        </h2>
        <table data-testid="devices">
          <Head columns={['device', 'reachable']} />
          <tbody>
            {devices.map((d) => (
              <tr key={d.name} class={d.up ? '' : 'bad'}>
                <td>{d.name}</td>
                <td class={d.up ? 'ok' : 'bad'}>{d.up ? 'yes' : 'no'}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <p class="muted">
          {[
            `mode ${String(health?.['mode'] ?? '')}`,
            `store ${checks.store ? 'answers' : 'does not answer'}`,
            `operations open ${String(operations?.open ?? '')}, unsettled ${String(operations?.unsettled ?? '')}`,
            `audits ${JSON.stringify(checks.audits ?? {})}`,
          ].join('; ')}
        </p>
      </section>
      <section class="cards">
        <div class="card">
          <Chart
            label="remittances per second"
            unit="/s"
            values={samples.map((s) => s.perSecond)}
          />
        </div>
        <div class="card">
          <Chart label="mean latency" unit="ms" values={samples.map((s) => s.latencyMs)} />
        </div>
        <div class="card">
          <h2>Continuous audit</h2>
          <p title="audit status over time, one mark per 2 s">
            {samples.map((s) => (
              <span
                key={s.atMs}
                title={new Date(s.atMs).toISOString()}
                class={s.auditClean === false ? 'bad' : 'ok'}
              >
                {s.auditClean === false ? '■' : s.auditClean ? '■' : '□'}
              </span>
            ))}
          </p>
        </div>
      </section>
    </>
  );
}

interface LogOperation {
  remittanceId: string;
  records: WireRecord[];
  signatures: { valid: boolean; problem?: string };
}

function Log(props: { session: OperatorSession }) {
  const [account, setAccount] = useState('');
  const [remittanceId, setRemittanceId] = useState('');
  const [pages, setPages] = useState<string[]>(['0']);
  const [page, setPage] = useState<{ operations: LogOperation[]; next?: string }>();
  const [error, setError] = useState('');
  const load = async (after: string) => {
    setError('');
    const query = new URLSearchParams({ after, limit: '20' });
    if (account) query.set('account', account.trim());
    if (remittanceId) query.set('remittanceId', remittanceId.trim());
    try {
      setPage(await props.session.get(`/v1/admin/transactions?${query}`));
    } catch (e) {
      setError(errorText(e));
    }
  };
  useEffect(() => void load('0'), []);
  return (
    <section>
      <h2>Transaction log (A, the transaction device's copy)</h2>
      <Form
        onSubmit={() => {
          setPages(['0']);
          void load('0');
        }}
      >
        <Field
          label="filter by account"
          placeholder="account"
          size={8}
          value={account}
          onChange={setAccount}
        />
        <Field
          label="filter by remittance"
          placeholder="remittance id"
          size={36}
          value={remittanceId}
          onChange={setRemittanceId}
        />
        <button type="submit">Filter</button>
        <button
          type="button"
          class="secondary"
          disabled={pages.length < 2}
          onClick={() => {
            const previous = pages.slice(0, -1);
            setPages(previous);
            void load(previous.at(-1)!);
          }}
        >
          Previous
        </button>
        <button
          type="button"
          class="secondary"
          disabled={!page?.next}
          onClick={() => {
            setPages([...pages, page!.next!]);
            void load(page!.next!);
          }}
        >
          Next
        </button>
      </Form>
      <ErrorLine error={error} />
      <table data-testid="log">
        <Head
          columns={[
            'number',
            'type',
            'source',
            'destination',
            'amount',
            'date/time',
            'signer',
            'signatures',
          ]}
        />
        <tbody>
          {page?.operations.flatMap((operation) =>
            operation.records.map((r, i) => (
              <tr
                key={r.transactionNumber}
                class={operation.signatures.valid ? '' : 'bad'}
                data-remittance={operation.remittanceId}
              >
                <td class="num">{r.transactionNumber}</td>
                <td>
                  {r.transactionType}
                  {r.outcome && r.outcome !== 'ok' ? ` (${r.outcome})` : ''}
                </td>
                <td>{r.sourceAccount ?? ''}</td>
                <td>{r.destinationAccount ?? ''}</td>
                <td class="num">{r.amount ?? ''}</td>
                <td>{formatTime(r.dateTime)}</td>
                <td>{r.signerKeyNumber}</td>
                <td>
                  {i === 0 ? (
                    operation.signatures.valid ? (
                      <span class="ok">verified</span>
                    ) : (
                      <span class="bad" title={operation.signatures.problem}>
                        {operation.signatures.problem}
                      </span>
                    )
                  ) : (
                    ''
                  )}
                </td>
              </tr>
            )),
          )}
        </tbody>
      </table>
    </section>
  );
}

interface AccountLine {
  accountNumber: string;
  balance: string;
  held: string;
  currencyType: string;
  lastUpdate: string;
  status: string;
  signatureValid: boolean;
}

function Accounts(props: { session: OperatorSession }) {
  const [accounts, setAccounts] = useState<AccountLine[]>([]);
  const [units, setUnits] = useState<{
    accountNumber: string;
    units: Record<string, string | boolean>[];
  }>();
  const [error, setError] = useState('');
  useEffect(() => {
    props.session.get<{ accounts: AccountLine[] }>('/v1/admin/accounts?limit=100').then(
      (page) => setAccounts(page.accounts),
      (e: unknown) => setError(errorText(e)),
    );
  }, []);
  const showUnits = async (accountNumber: string) => {
    try {
      setUnits(await props.session.get(`/v1/admin/accounts/${accountNumber}/units`));
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <>
      <section>
        <h2>Accounts (B)</h2>
        <ErrorLine error={error} />
        <table data-testid="accounts">
          <Head
            columns={[
              'account',
              'balance',
              'held',
              'currency',
              'last update',
              'status',
              'row signature',
              '',
            ]}
          />
          <tbody>
            {accounts.map((a) => (
              <tr key={a.accountNumber} class={a.signatureValid ? '' : 'bad'}>
                <td>{a.accountNumber}</td>
                <td class="num">{a.balance}</td>
                <td class="num">{a.held}</td>
                <td>{a.currencyType}</td>
                <td>{formatTime(a.lastUpdate)}</td>
                <td>{a.status}</td>
                <SignatureCell valid={a.signatureValid} />
                <td>
                  <button
                    type="button"
                    class="secondary"
                    onClick={() => void showUnits(a.accountNumber)}
                  >
                    units
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {units && (
        <section>
          <h2>Currency units of account {units.accountNumber} (C)</h2>
          <table>
            <Head columns={['unit', 'value', 'status', 'last update', 'row signature']} />
            <tbody>
              {units.units.map((u) => (
                <tr key={String(u['currencyNumber'])} class={u['signatureValid'] ? '' : 'bad'}>
                  <td>{String(u['currencyNumber'])}</td>
                  <td class="num">{String(u['value'])}</td>
                  <td>{String(u['status'])}</td>
                  <td>{formatTime(String(u['lastUpdate']))}</td>
                  <SignatureCell valid={u['signatureValid'] === true} />
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    </>
  );
}

interface Finding {
  device: string;
  store: string;
  table: string;
  key: string;
  kind: string;
  found?: Record<string, unknown>;
  expected?: Record<string, unknown>;
  message: string;
}

interface Report {
  clean: boolean;
  recordsChecked: number;
  rowsChecked: number;
  findings: Finding[];
  findingsOmitted: number;
}

function Audit(props: { session: OperatorSession }) {
  const [progress, setProgress] = useState<{ phase: string; done: number; total: number }>();
  const [report, setReport] = useState<Report>();
  const [recovery, setRecovery] = useState<Record<string, unknown>>();
  const [running, setRunning] = useState(false);
  const [error, setError] = useState('');
  const run = async (
    path: '/v1/admin/audit' | '/v1/admin/recover',
    body: Record<string, unknown>,
  ) => {
    setError('');
    setRunning(true);
    setProgress(undefined);
    try {
      await props.session.stream(path, body, (event) => {
        if (event['event'] === 'progress') setProgress(event as unknown as typeof progress);
        if (event['event'] === 'report') setReport(event['report'] as Report);
        if (event['event'] === 'recovery') {
          const recovered = event['recovery'] as Record<string, unknown>;
          setRecovery(recovered);
          setReport(recovered['after'] as Report);
        }
        if (event['event'] === 'error') {
          const failure = event['error'] as { code: string; message: string };
          setError(`${failure.code}: ${failure.message}`);
        }
      });
    } catch (e) {
      setError(errorText(e));
    } finally {
      setRunning(false);
    }
  };
  const recover = () => {
    if (!confirm('Start recovery? The ledger pauses (new requests get 503) until it is done.'))
      return;
    setRecovery(undefined);
    void run('/v1/admin/recover', {});
  };
  return (
    <>
      <section>
        <h2>Audit</h2>
        <div class="row">
          <button type="button" disabled={running} onClick={() => void run('/v1/admin/audit', {})}>
            Run audit
          </button>
          <button
            type="button"
            class="secondary"
            disabled={running}
            onClick={() => void run('/v1/admin/audit', { full: true })}
          >
            Full audit
          </button>
          <button
            type="button"
            class="danger"
            disabled={running || !report || report.clean}
            onClick={recover}
          >
            Recover…
          </button>
          {progress && running && (
            <span>
              <progress max={progress.total || 1} value={progress.done} /> {progress.phase}{' '}
              {progress.done.toLocaleString()} / {progress.total.toLocaleString()}
            </span>
          )}
        </div>
        <ErrorLine error={error} />
        {report && (
          <p data-testid="audit-result">
            {report.clean ? (
              <span class="ok">Clean</span>
            ) : (
              <span class="bad">{report.findings.length + report.findingsOmitted} findings</span>
            )}{' '}
            <span class="muted">
              — {report.recordsChecked.toLocaleString()} records and{' '}
              {report.rowsChecked.toLocaleString()} rows checked
            </span>
          </p>
        )}
        {recovery && (
          <p data-testid="recovery-result">
            {recovery['recovered'] ? (
              <span class="ok">Recovered</span>
            ) : (
              <span class="bad">Not everything could be recovered</span>
            )}
          </p>
        )}
      </section>
      {report && report.findings.length > 0 && (
        <section>
          <h2>What the audit found</h2>
          <table data-testid="findings">
            <Head
              columns={['device', 'table', 'row', 'what', 'what is there', 'what is correct']}
            />
            <tbody>
              {report.findings.map((f) => (
                <tr key={`${f.device}-${f.table}-${f.key}-${f.kind}`} class="bad">
                  <td>{f.device}</td>
                  <td>{f.table}</td>
                  <td>{f.key}</td>
                  <td title={f.message}>{f.kind}</td>
                  <td class="mono">{f.found ? JSON.stringify(f.found) : '(missing)'}</td>
                  <td class="mono">
                    {f.expected ? JSON.stringify(f.expected) : '(should not exist)'}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    </>
  );
}

render(<Console />, document.getElementById('app')!);

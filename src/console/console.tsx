// The operator console (/console): the three devices and their health, the transaction log as the
// patent draws it (FIG. 1F / FIG. 2B), accounts (FIG. 4) and currency units (FIG. 5) with their
// signature status, the audit run from the page with tampered rows highlighted, recovery after a
// confirmation, and charts of throughput and audit status. Every admin call is signed in the page
// with the operator's key (browser.ts); the device checks it, so the page has no power of its own.
import './bufferGlobal.js';
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
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

/**
 * A line over the last minutes of samples, with a time axis (UTC) and a value axis in `unit`
 * (uPlot: a small, maintained time-series chart on a canvas).
 */
function Chart(props: {
  samples: readonly Sample[];
  value: (s: Sample) => number;
  label: string;
  unit: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  useEffect(() => {
    const value = (_: uPlot, v: number | null) =>
      v === null ? '-' : `${v.toFixed(1)} ${props.unit}`;
    plot.current = new uPlot(
      {
        width: 360,
        height: 180,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        axes: [
          {
            label: 'time (UTC)',
            labelSize: 20,
            size: 40,
            values: (_u, ticks) => ticks.map((t) => new Date(t * 1000).toISOString().slice(11, 19)),
          },
          { label: props.unit, labelSize: 20, size: 50, values: (_u, ticks) => ticks.map(String) },
        ],
        series: [{}, { label: props.label, stroke: '#2f5fd0', width: 2, value }],
      },
      [[], []],
      box.current!,
    );
    return () => plot.current?.destroy();
  }, []);
  useEffect(() => {
    plot.current?.setData([
      props.samples.map((s) => s.atMs / 1000),
      props.samples.map(props.value),
    ]);
  }, [props.samples]);
  const last = props.samples.at(-1);
  return (
    <figure>
      <div ref={box} role="img" aria-label={`${props.label}, ${props.unit}, over time`} />
      <figcaption class="muted">
        {props.label}: {last ? props.value(last).toFixed(1) : '-'} {props.unit} now
      </figcaption>
    </figure>
  );
}

/** The continuous audit over the samples shown, in a sentence. */
function continuousInWords(samples: readonly Sample[]): string {
  const failed = samples.filter((s) => s.auditClean === false);
  if (failed.length > 0)
    return `Found problems at ${failed.map((s) => new Date(s.atMs).toISOString().slice(11, 19)).join(', ')} UTC (red marks): run an audit.`;
  if (samples.some((s) => s.auditClean === true)) return 'Clean at every check shown.';
  return 'Not run yet (it runs as records and rows arrive).';
}

/** What /ready and /health say, as sentences: the mode, the store, the work in flight, the audits. */
function statusInWords(
  ready: Record<string, unknown>,
  health: Record<string, unknown> | undefined,
): string {
  const checks = (ready['checks'] ?? {}) as {
    store?: boolean;
    storeDamage?: string;
    heldForRecovery?: string;
    peers?: Record<string, boolean>;
    audits?: Record<string, boolean | string>;
  };
  const operations = health?.['operations'] as { open?: number; unsettled?: number } | undefined;
  const down = Object.entries(checks.peers ?? {})
    .filter(([, up]) => !up)
    .map(([name]) => name);
  const audits = Object.entries(checks.audits ?? {}).map(
    ([kind, clean]) =>
      `the ${kind} audit ${clean === true ? 'was clean' : clean === false ? 'found problems' : 'has not run yet'}`,
  );
  const count = (n: number | undefined, what: string) => `${n ?? 0} ${what}${n === 1 ? '' : 's'}`;
  return [
    ready['ready'] ? 'The ledger serves.' : 'The ledger does not serve now.',
    checks.storeDamage ? `The transaction device's store is damaged: ${checks.storeDamage}.` : '',
    checks.store === false && !checks.storeDamage
      ? "The transaction device's store does not answer."
      : '',
    checks.heldForRecovery ? `It is held until a recovery: ${checks.heldForRecovery}.` : '',
    down.length > 0 ? `Not reachable: ${down.join(' and ')}.` : 'Every device answers.',
    `Mode ${String(health?.['mode'] ?? '?')}; ${count(operations?.open, 'operation')} in flight, ${count(operations?.unsettled, 'settlement')} not yet acknowledged.`,
    audits.length > 0 ? `Last audits here: ${audits.join(', ')}.` : '',
  ]
    .filter((sentence) => sentence !== '')
    .join(' ');
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
  const checks = (ready?.['checks'] ?? {}) as { peers?: Record<string, boolean> };
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
        <p data-testid="status">{ready ? statusInWords(ready, health) : ''}</p>
      </section>
      <section class="cards">
        <div class="card">
          <Chart
            label="remittances"
            unit="per second"
            samples={samples}
            value={(s) => s.perSecond}
          />
        </div>
        <div class="card">
          <Chart label="mean latency" unit="ms" samples={samples} value={(s) => s.latencyMs} />
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
          <p class="muted" data-testid="continuous-audit">
            {continuousInWords(samples)}
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
    // Checked here, so that a mistake reads as a sentence rather than the API's pattern.
    if (account.trim() && !/^[1-9][0-9]{0,18}$/.test(account.trim()))
      return setError('InvalidInput: filter by an account number, such as 2');
    if (remittanceId.trim() && !/^[A-Za-z0-9._:-]{1,128}$/.test(remittanceId.trim()))
      return setError(
        'InvalidInput: a remittance id is 1 to 128 letters, digits, dots, underscores, colons or hyphens',
      );
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

/** Fields holding a time, in milliseconds since the epoch: shown as UTC dates. */
const timeFields = new Set(['dateTime', 'lastUpdate']);

function fieldText(name: string, value: unknown): string {
  if (value === undefined) return '';
  const text = String(value);
  return timeFields.has(name) && /^[0-9]{1,16}$/.test(text)
    ? formatTime(new Date(Number(text)).toISOString())
    : text;
}

/**
 * A finding, field by field, side by side: for a change, only the fields that differ; for a row
 * or record missing or extra, every field of the side that has it.
 */
function changedFields(f: Finding): { name: string; found: string; expected: string }[] {
  const names = [...new Set([...Object.keys(f.found ?? {}), ...Object.keys(f.expected ?? {})])];
  const differing =
    f.found && f.expected ? names.filter((name) => f.found![name] !== f.expected![name]) : names;
  const rows = differing.map((name) => ({
    name,
    found: f.found ? fieldText(name, f.found[name]) : '(missing)',
    expected: f.expected ? fieldText(name, f.expected[name]) : '(should not exist)',
  }));
  return rows.length > 0 ? rows : [{ name: '', found: f.message, expected: '' }];
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
        // The gateway's own store is damaged: it restarts on a new one, which a second recovery
        // rebuilds (`triledger recover` waits and asks again by itself).
        if (event['event'] === 'rebuilding')
          setError(
            `StoreDamaged: ${String(event['damage'])}. The transaction device sets this store aside and starts again on a new one: run Recover again once this page answers.`,
          );
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
              <span class="bad">
                {report.findings.length + report.findingsOmitted}{' '}
                {report.findings.length + report.findingsOmitted === 1 ? 'finding' : 'findings'}
              </span>
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
              columns={[
                'device',
                'table',
                'row',
                'what',
                'field',
                'what is there',
                'what is correct',
              ]}
            />
            <tbody>
              {report.findings.flatMap((f) =>
                changedFields(f).map((field, index, fields) => (
                  <tr key={`${f.device}-${f.table}-${f.key}-${f.kind}-${field.name}`} class="bad">
                    {index === 0 && (
                      <>
                        <td rowSpan={fields.length}>{f.device}</td>
                        <td rowSpan={fields.length}>{f.table}</td>
                        <td rowSpan={fields.length}>{f.key}</td>
                        <td rowSpan={fields.length} title={f.message}>
                          {f.kind}
                        </td>
                      </>
                    )}
                    <td>{field.name}</td>
                    <td class="mono">{field.found}</td>
                    <td class="mono">{field.expected}</td>
                  </tr>
                )),
              )}
            </tbody>
          </table>
        </section>
      )}
    </>
  );
}

render(<Console />, document.getElementById('app')!);

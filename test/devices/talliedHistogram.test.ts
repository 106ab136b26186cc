// The tallied histogram (devices/talliedHistogram.ts) against prom-client's own Histogram: the same
// observations give the same exposition, line for line, in the text format and in the JSON form.

import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { TalliedHistogram, talliedSeriesMax } from '../../src/devices/talliedHistogram.js';

const buckets = [0.001, 0.01, 0.1, 1];
/** Values on the bounds, between them, below the first and above the last. */
const observations: readonly [string, number][] = [
  ['open', 0.0005],
  ['open', 0.001],
  ['settle', 0.05],
  ['open', 0.1],
  ['settle', 2.5],
  ['settle', 1],
  ['open', 0],
];

function registries(): [Registry, Registry] {
  const ours = new Registry();
  const theirs = new Registry();
  for (const registry of [ours, theirs]) registry.setDefaultLabels({ device: 'transaction' });
  return [ours, theirs];
}

/** The JSON form's values without prom-client's exemplars (none here). */
function valuesOf(metrics: { values: object[] }[]): object[] {
  return metrics.flatMap(({ values }) =>
    values.map((value) => {
      const { metricName, labels, value: count } = value as Record<string, unknown>;
      return { metricName, labels, value: count };
    }),
  );
}

describe('TalliedHistogram', () => {
  it('renders what prom-client renders for the same observations, with a label', async () => {
    const [ours, theirs] = registries();
    const tallied = new TalliedHistogram('steps_seconds', 'Steps', 'step', buckets, ours);
    const reference = new Histogram({
      name: 'steps_seconds',
      help: 'Steps',
      labelNames: ['step'],
      buckets,
      registers: [theirs],
    });
    for (const [step, seconds] of observations) {
      tallied.observe(step, seconds);
      reference.observe({ step }, seconds);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(valuesOf(await ours.getMetricsAsJSON())).toEqual(
      valuesOf(await theirs.getMetricsAsJSON()),
    );
    expect(await ours.metrics()).toContain(
      'steps_seconds_count{device="transaction",step="open"} 4',
    );
  });

  it('renders what prom-client renders without a label, and nothing before an observation', async () => {
    const [ours, theirs] = registries();
    const tallied = new TalliedHistogram('commit_seconds', 'Commits', undefined, buckets, ours);
    const reference = new Histogram({
      name: 'commit_seconds',
      help: 'Commits',
      buckets,
      registers: [theirs],
    });
    expect(await ours.metrics()).toBe(await theirs.metrics());
    for (const [, seconds] of observations) {
      tallied.observe('', seconds);
      reference.observe(seconds);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    ours.resetMetrics();
    theirs.resetMetrics();
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('refuses what is not an observation: a value not finite, a label not its own, too many series', () => {
    const histogram = new TalliedHistogram('h', 'H', 'peer', buckets, new Registry());
    expect(() => histogram.observe('account', Number.NaN)).toThrow(/finite/);
    expect(() => histogram.observe('', 1)).toThrow(/its label/);
    for (let i = 0; i < talliedSeriesMax; i++) histogram.observe(`peer${i}`, 1);
    expect(() => histogram.observe('one more', 1)).toThrow(/closed set/);
    expect(() => new TalliedHistogram('g', 'G', undefined, [1, 1], new Registry())).toThrow(
      /ascend/,
    );
  });
});

// A Prometheus histogram for the hot path: observations are tallied in plain arrays, one per label
// value, and turned into the exposition only when the registry is read (a scrape).
//
// prom-client's Histogram validates its labels, hashes them and looks the series up in an object
// on every observation; the devices observe several times per remittance (each step, each message
// to a peer, each commit), and the transaction device's profile under load spent 10-15 us per
// remittance there. The exposition is the one prom-client writes for its own histograms: cumulative
// `_bucket` series with `le`, then `_sum` and `_count`, each series with its label.

import type { Metric, Registry } from 'prom-client';
import { assert } from '../model/assert.js';

/** Label values per histogram: its labels are closed sets (steps, peers, operations). */
export const talliedSeriesMax = 64;

/** One line of the exposition, as the registry reads it: its own labels, then the series'. */
interface ExpositionValue {
  readonly metricName: string;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly sharedLabels: Readonly<Record<string, string>>;
  readonly value: number;
}

interface Tally {
  readonly labels: Readonly<Record<string, string>>;
  /** Observations per bucket (not cumulative), the last for those above every bound. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

export class TalliedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #series = new Map<string, Tally>();

  constructor(
    readonly name: string,
    readonly help: string,
    /** The one label this histogram's series differ by; none when it has one series. */
    private readonly labelName: string | undefined,
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    assert(
      buckets.length > 0 && buckets.every((bound, i) => i === 0 || bound > buckets[i - 1]!),
      'bucket bounds ascend',
    );
    registry.registerMetric(this as unknown as Metric);
    // A histogram without a label shows its one series from the start, at zero (as prom-client's).
    if (labelName === undefined) this.#newSeries('');
  }

  /** One observation in the series of `labelValue` ('' for a histogram without a label). */
  observe(labelValue: string, value: number): void {
    assert(Number.isFinite(value), 'an observation is a finite number');
    const tally = this.#series.get(labelValue) ?? this.#newSeries(labelValue);
    let bucket = 0;
    while (bucket < this.buckets.length && value > this.buckets[bucket]!) bucket++;
    tally.counts[bucket]! += 1;
    tally.sum += value;
    tally.count += 1;
  }

  #newSeries(labelValue: string): Tally {
    assert(this.#series.size < talliedSeriesMax, `${this.name}: label values are a closed set`);
    assert((this.labelName === undefined) === (labelValue === ''), `${this.name}: its label`);
    const tally: Tally = {
      labels: this.labelName === undefined ? {} : { [this.labelName]: labelValue },
      counts: new Float64Array(this.buckets.length + 1),
      sum: 0,
      count: 0,
    };
    this.#series.set(labelValue, tally);
    return tally;
  }

  /** The exposition's values, as prom-client's Histogram gives them to the text format. */
  getForPromString(): {
    name: string;
    help: string;
    type: 'histogram';
    aggregator: 'sum';
    values: ExpositionValue[];
  } {
    const values: ExpositionValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const { labels, counts, sum, count } of this.#series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cumulative += counts[i]!;
        values.push({
          metricName: bucketName,
          labels: { le: this.buckets[i]! },
          sharedLabels: labels,
          value: cumulative,
        });
      }
      assert(cumulative + counts[this.buckets.length]! === count, 'every observation in a bucket');
      values.push(
        { metricName: bucketName, labels: { le: '+Inf' }, sharedLabels: labels, value: count },
        { metricName: `${this.name}_sum`, labels: {}, sharedLabels: labels, value: sum },
        { metricName: `${this.name}_count`, labels: {}, sharedLabels: labels, value: count },
      );
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    };
  }

  /** The same values with each series' label among their own (the registry's JSON form). */
  get(): { name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: object[] } {
    const exposition = this.getForPromString();
    const values = exposition.values.map(({ metricName, labels, sharedLabels, value }) => ({
      metricName,
      labels: { ...labels, ...sharedLabels },
      value,
    }));
    return { ...exposition, values };
  }

  /** Every series gone, as prom-client's reset leaves its own (a later observation starts one). */
  reset(): void {
    this.#series.clear();
  }
}

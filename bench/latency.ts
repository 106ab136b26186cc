// Latency samples summarised as the benchmarks report them: p50, p99, p99.9 and the slowest.
// Its own module, free of side effects: the load generator's module runs a load when its process
// receives a message, so nothing that runs elsewhere (the report, the tests) may import it.

export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

export function summarize(latencies: number[]): LatencySummary {
  const sorted = [...latencies].sort((x, y) => x - y);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
  return {
    count: sorted.length,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    p999Ms: at(0.999),
    maxMs: sorted.at(-1) ?? 0,
  };
}

/** What every benchmark gets from `npm run bench -- <name> [flags]`. */
export interface BenchOptions {
  /** `--quick`: a short run (about a minute) for checking the harness, not for recording figures. */
  quick: boolean;
  /** Every argument after the benchmark name, for flags a benchmark defines itself. */
  args: readonly string[];
}

/** The module a benchmark file (`bench/<name>.ts`) exports. */
export interface BenchModule {
  /** Runs the benchmark, printing its figures with `emit`. */
  run(options: BenchOptions): Promise<void>;
}

/** Reads the flags that follow the benchmark name. */
export function parseOptions(args: readonly string[]): BenchOptions {
  return { quick: args.includes('--quick'), args };
}

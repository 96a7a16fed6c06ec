/** Where a CLI command writes; tests pass collectors, the binary passes stdout/stderr. */
export interface CliIO {
  out(line: string): void;
  err(line: string): void;
}

export const processIO: CliIO = {
  out: (line) => void process.stdout.write(`${line}\n`),
  err: (line) => void process.stderr.write(`${line}\n`),
};

/** Prints an error the way every command does and returns the exit code for failure. */
export function reportFailure(io: CliIO, error: unknown): number {
  const problems = (error as { problems?: Array<{ path: string; message: string }> }).problems;
  if (Array.isArray(problems) && problems.length > 0) {
    io.err('error: the extension manifest is invalid:');
    for (const problem of problems) io.err(`  ${problem.path}: ${problem.message}`);
  } else {
    io.err(`error: ${error instanceof Error ? error.message : String(error)}`);
  }
  return 1;
}

import { LogSearch } from './LogSearch.js';

/**
 * The "Logs" tab of a pipeline run, in the devops extension's `devops.mortise.io/run-tabs` point,
 * whose contributions get `{namespace, pipeline, run, startTime, completionTime}`: exactly that
 * run's lines — the stream {source="devops", run} the backend stores from the devops API — oldest
 * first, each with its stage and step, in the run's window (up to now while it runs).
 */
export default function RunLogsTab(props: Record<string, unknown>) {
  const text = (k: string) => (typeof props[k] === 'string' ? (props[k] as string) : undefined);
  const startTime = text('startTime');
  const completionTime = text('completionTime');
  const startMs = startTime ? Date.parse(startTime) - 1000 : Date.now() - 3_600_000;
  const endMs = completionTime ? Date.parse(completionTime) + 1000 : Date.now();
  return (
    <LogSearch fixed={{ source: 'devops', namespace: text('namespace') ?? '', run: text('run') ?? '' }} window={{ startMs, endMs }}
      direction="forward" lineLabels={['stage', 'step']} />
  );
}

import { parentPort, workerData } from 'node:worker_threads';
import { LogQLError, parseLogQL } from './logql.js';
import { logQuery, metricInstantQuery, metricRangeQuery, QueryLimitError } from './query-engine.js';
import type { QueryAnswer, QueryAsk, QueryWorkerData } from './query-pool.js';
import { SqliteLogStore } from './sqlite-log-store.js';

// A query worker (query-pool.ts): LogQL evaluated on a read-only connection of its own to the
// store the backend's thread writes, one query at a time. The query comes as its text (a parsed
// one holds compiled regexes, which cannot cross threads) and is parsed again here.

const data = workerData as QueryWorkerData;
const store = (() => {
  try {
    return new SqliteLogStore(data.dir, { readOnly: true, partitionNs: data.partitionNs });
  } catch (e) {
    // A plain Error: the pool gets its message (a SqliteError's does not cross the thread).
    throw new Error(`the log store cannot be opened: ${(e as Error).message}`);
  }
})();

function run(ask: QueryAsk): unknown {
  const query = parseLogQL(ask.query);
  switch (ask.kind) {
    case 'log':
      if (query.type !== 'log') throw new Error('a log query was expected');
      return logQuery(store, ask.scope, query, ask.range, ask.budgetMs);
    case 'range':
      if (query.type === 'log') throw new Error('a metric query was expected');
      return metricRangeQuery(store, ask.scope, query, ask.startMs, ask.endMs, ask.stepMs, ask.budgetMs);
    case 'instant':
      if (query.type === 'log') throw new Error('a metric query was expected');
      return metricInstantQuery(store, ask.scope, query, ask.atMs, ask.budgetMs);
  }
}

parentPort!.on('message', (ask: QueryAsk) => {
  let answer: QueryAnswer;
  try {
    answer = { id: ask.id, result: run(ask) };
  } catch (e) {
    const error = e as Error;
    answer = { id: ask.id, error: { limit: e instanceof QueryLimitError, syntax: e instanceof LogQLError, message: error.message } };
  }
  parentPort!.postMessage(answer);
});

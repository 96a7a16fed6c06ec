// Module hooks of scripts/start-cost.mjs: append the URL of every ES module loaded to a file.
import { appendFileSync } from 'node:fs';

let file;
export function initialize(data) {
  file = data.file;
}
export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  if (result.format === 'module') appendFileSync(file, `${url}\n`);
  return result;
}

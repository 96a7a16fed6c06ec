// Runs extractPackage on one package in a fresh process and prints what it cost in memory:
// the growth of the peak resident set (getrusage maxrss) and of arrayBuffers, as JSON.
import { extractPackage } from '../../dist/index.js';

const [archive, destination] = process.argv.slice(2);
global.gc?.();
const before = { peak: process.resourceUsage().maxRSS * 1024, arrayBuffers: process.memoryUsage().arrayBuffers };
let outcome;
try {
  await extractPackage(archive, destination);
  outcome = { code: 'OK' };
} catch (error) {
  outcome = { code: error.code, message: error.message };
}
const after = { peak: process.resourceUsage().maxRSS * 1024, arrayBuffers: process.memoryUsage().arrayBuffers };
console.log(JSON.stringify({ ...outcome, peakRssGrowth: after.peak - before.peak, arrayBuffersGrowth: after.arrayBuffers - before.arrayBuffers }));

import { randomFillSync } from 'node:crypto';

// The suffix a create with `metadata.generateName` gets: five characters of Kubernetes' own
// alphabet (no vowels, no look-alikes). Taken from a pool of random bytes refilled 4 KiB at a
// time: randomBytes(5) for each cost ~2 µs a create (a call into OpenSSL), 1.5 % of the core's
// CPU in the kubernetes-mode create benchmark. A name need not be secret, only unlikely to be
// taken (a create that draws a taken one answers 409 AlreadyExists, as kube-apiserver does).

const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
const pool = Buffer.alloc(4096);
let at = pool.length;

export function generatedNameSuffix(): string {
  if (at + 5 > pool.length) {
    randomFillSync(pool);
    at = 0;
  }
  let suffix = '';
  for (let i = 0; i < 5; i++) suffix += alphabet[pool[at++]! % alphabet.length];
  return suffix;
}

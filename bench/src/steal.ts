import { readFileSync } from 'node:fs';

// On a virtual machine the host may give our virtual CPUs to others' work: the time it took
// ("steal", the 8th figure of /proc/stat's cpu line) is time in which no process of ours ran. On
// this kind of machine it has ranged from 0 to a third of the CPU within an hour, and figures
// measured while it is high are not the machine's (plain nginx served 1,996 req/s at c=1 in one
// run and 6,425 in another). So every comparative section prints the share stolen while it ran:
// of the time our CPUs wanted to run (not idle), the part the host took. Steal only accrues while
// a virtual CPU has work, so a share of all time would look small when the bench is half idle.

export interface CpuSnapshot {
  /** CPU time of all CPUs in which they ran or wanted to (every state but idle and iowait), in clock ticks. */
  wanted: number;
  steal: number;
}

export function cpuSnapshot(): CpuSnapshot {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  // "cpu  user nice system idle iowait irq softirq steal guest guest_nice"; guest time is already in user.
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1, 9).map(Number);
  return { wanted: user + nice + system + irq + softirq + steal, steal };
}

/** The percentage of the CPU time wanted since `from` that the host took (one decimal; 0 if none was wanted). */
export function stolenSince(from: CpuSnapshot): number {
  const now = cpuSnapshot();
  const wanted = now.wanted - from.wanted;
  return wanted > 0 ? Math.round(((now.steal - from.steal) * 1000) / wanted) / 10 : 0;
}

/** "the host took N % …" with what it means when it is high. */
export function stealNote(percent: number): string {
  return `the VM's host took ${percent} % of the CPU time the machine wanted (steal)${percent >= 5 ? ': figures from a starved machine, compare ratios only' : ''}`;
}

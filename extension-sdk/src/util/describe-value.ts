/** A short, printable rendering of an arbitrary value for error messages. */
export function describeValue(value: unknown, max = 60): string {
  let text: string;
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}

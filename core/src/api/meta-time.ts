/**
 * The current time as a Kubernetes metav1.Time (RFC 3339, whole seconds), the text made once a
 * second: every write stamps one or two (creationTimestamp, managedFields' time).
 */
export function metaTimeNow(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    lastText = new Date(second * 1000).toISOString().replace('.000Z', 'Z');
  }
  return lastText;
}

let lastSecond = -1;
let lastText = '';

// Modules the tests use that ship no types.

// parse-prometheus-text-format: the metric families the tests read are described at each use.
declare module 'parse-prometheus-text-format' {
  export default function parsePrometheusTextFormat(text: string): unknown;
}

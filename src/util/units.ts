/** Formats bytes with binary units. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** Prints rows as left-aligned columns separated by two spaces. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) for (const [i, c] of r.entries()) widths[i] = Math.max(widths[i] ?? 0, [...c].length);
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i]! - [...c].length)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** An instant as S3 and the admin API write it (ISO 8601 / RFC 3339, UTC, with milliseconds). */
export function isoDate(ms: number): string {
  return new Date(ms).toISOString();
}

const DURATION_UNITS: Record<string, number> = {
  s: 1e3,
  sec: 1e3,
  m: 60e3,
  min: 60e3,
  h: 3600e3,
  hr: 3600e3,
  d: 86400e3,
  w: 604800e3,
  y: 31536000e3,
};

/** A duration such as `6h`, `1d 12h`, `90min` or `30 d` in ms (humantime's units), or undefined. */
export function durationMs(text: string): number | undefined {
  if (!/^\s*(\d+\s*[a-z]+\s*)+$/.test(text)) return undefined;
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)\s*([a-z]+)/g)) {
    const f = DURATION_UNITS[unit!];
    if (f === undefined) return undefined;
    ms += Number(n) * f;
  }
  return ms;
}

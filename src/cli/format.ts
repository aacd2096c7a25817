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

/** Shortens a node id the way garage does. */
export function shortId(id: string): string {
  return id.slice(0, 16);
}

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

/** Formats a capacity as given by the user (plain numbers for small unit-less values). */
export function capacity(c: number | null): string {
  if (c === null) return 'gateway';
  if (c >= 1024) return bytes(c).replace(/\.0 /, ' ');
  return Number.isInteger(c) ? String(c) : c.toFixed(3);
}

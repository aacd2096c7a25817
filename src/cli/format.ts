import type { BucketInfo, ClusterLayout, KeyInfo, MultiResponse } from '../admin/api.ts';
import { bytes, durationMs, table } from '../util/units.ts';
import { AdminError } from '../util/errors.ts';

export { bytes, table };

/** Prints one line of the CLI's output. */
export function out(s: string): void {
  process.stdout.write(`${s}\n`);
}

/** Prints a value as indented JSON (the --json output of every listing). */
export function json(v: unknown): void {
  out(JSON.stringify(v, null, 2));
}

/** Shortens a node id the way garage does. */
export function shortId(id: string): string {
  return id.slice(0, 16);
}

/** Formats a capacity as given by the user (plain numbers for small unit-less values). */
export function capacity(c: number | null): string {
  if (c === null) return 'gateway';
  if (c >= 1024) return bytes(c).replace(/\.0 /, ' ');
  return Number.isInteger(c) ? String(c) : c.toFixed(3);
}

const rwo = (p: { read: boolean; write: boolean; owner: boolean }) =>
  `${p.read ? 'R' : ' '}${p.write ? 'W' : ' '}${p.owner ? 'O' : ' '}`;

/** Prints a key as `garage key info` does. */
export function printKey(k: KeyInfo): void {
  out(`Key name: ${k.name}`);
  out(`Key ID: ${k.accessKeyId}`);
  out(`Secret key: ${k.secretAccessKey ?? '(redacted)'}`);
  out(`Created: ${k.created ?? 'unknown'}`);
  out(`Expiration: ${k.expiration ?? 'never'}${k.expired ? ' (EXPIRED)' : ''}`);
  out(`Can create buckets: ${k.permissions.createBucket}`);
  out('Authorized buckets:');
  if (k.buckets.length)
    out(
      table(
        k.buckets.map((b) => [
          `  ${rwo(b.permissions)}`,
          [...b.globalAliases, ...b.localAliases].join(', '),
          b.id.slice(0, 16),
        ]),
      ),
    );
}

/** Prints a bucket as `garage bucket info` does. */
export function printBucket(b: BucketInfo): void {
  out(`Bucket: ${b.id}`);
  out(`Created: ${b.created}`);
  out('');
  out(`Size: ${bytes(b.bytes)} (${b.bytes} bytes)`);
  out(`Objects: ${b.objects}`);
  out(`Unfinished multipart uploads: ${b.unfinishedMultipartUploads}`);
  out(`Unfinished multipart upload parts: ${b.unfinishedMultipartUploadParts}`);
  out(`Unfinished multipart upload size: ${bytes(b.unfinishedMultipartUploadBytes)}`);
  out('');
  const q = b.quotas;
  out(
    `Quotas: ${q.maxSize === null ? 'no size limit' : `max size ${bytes(q.maxSize)}`}, ` +
      (q.maxObjects === null ? 'no object limit' : `max ${q.maxObjects} objects`),
  );
  const w = b.websiteConfig;
  out(
    `Website access: ${w ? `true (index: ${w.indexDocument}${w.errorDocument ? `, error: ${w.errorDocument}` : ''})` : 'false'}`,
  );
  out('');
  out('Global aliases:');
  for (const a of b.globalAliases) out(`  ${a}`);
  const local = b.keys.flatMap((k) => k.bucketLocalAliases.map((a) => `  ${k.accessKeyId}: ${a}`));
  if (local.length) {
    out('Local aliases:');
    for (const l of local) out(l);
  }
  out('');
  out('Authorized keys:');
  const keys = b.keys.filter((k) => k.permissions.read || k.permissions.write || k.permissions.owner);
  if (keys.length) out(table(keys.map((k) => [`  ${rwo(k.permissions)}`, k.accessKeyId, k.name])));
}

/** The role table of a layout. */
export function layoutTable(l: ClusterLayout): string {
  return table([
    ['ID', 'Tags', 'Zone', 'Capacity', 'Usable capacity', 'Partitions'],
    ...l.roles.map((r) => [
      shortId(r.id),
      r.tags.join(','),
      r.zone,
      capacity(r.capacity),
      r.usableCapacity === null ? '' : capacity(r.usableCapacity),
      String(r.storedPartitions ?? 0),
    ]),
  ]);
}

/**
 * Prints a node-targeted answer: the one node's result as is, or a section per node; any
 * node's error makes the command fail (exit code 1) after everything is printed.
 */
export function printPerNode<T>(r: MultiResponse<T>, print: (v: T) => void): void {
  const nodes = [...Object.keys(r.success), ...Object.keys(r.error)].sort();
  const single = nodes.length === 1;
  for (const n of nodes) {
    if (!single) {
      out('======================');
      out(`Node ${shortId(n)}:`);
      out('');
    }
    if (n in r.error) process.stderr.write(`Error on node ${shortId(n)}: ${r.error[n]}\n`);
    else print(r.success[n]!);
    if (!single) out('');
  }
  if (Object.keys(r.error).length) process.exitCode = 1;
}

/** Parses a duration such as `30d`, `12h`, `90min` for --expires-in / --older-than (ms). */
export function parseDurationArg(s: string, flag: string): number {
  return durationMs(s) ?? invalid(flag, s);
}

function invalid(flag: string, s: string): never {
  throw new AdminError(`invalid ${flag} '${s}': expected a duration such as 30d, 12h or 90min`);
}

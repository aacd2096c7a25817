/** One ordered key-value tree (a named sub-database). Keys and values are bytes. */
export interface Tree {
  readonly name: string;
  get(key: Buffer): Buffer | undefined;
  /** Entries with start <= key < end (end omitted: to the last key), in key order or reversed. */
  range(opts: RangeOptions): Iterable<[Buffer, Buffer]>;
  /** Number of entries (may be approximate on some engines). */
  count(): number;
}

export interface RangeOptions {
  start?: Buffer;
  end?: Buffer;
  reverse?: boolean;
  limit?: number;
}

/** Operations allowed inside a transaction; reads see the transaction's own writes. */
export interface Tx {
  get(tree: Tree, key: Buffer): Buffer | undefined;
  put(tree: Tree, key: Buffer, value: Buffer): void;
  remove(tree: Tree, key: Buffer): void;
  range(tree: Tree, opts: RangeOptions): Iterable<[Buffer, Buffer]>;
}

/** The metadata database of a node. */
export interface Db {
  tree(name: string): Tree;
  /**
   * Runs fn inside one write transaction; resolves once the transaction is committed
   * (durably when metadata_fsync is on). fn must be synchronous.
   */
  transaction<T>(fn: (tx: Tx) => T): Promise<T>;
  /** Writes a consistent copy of the whole database under `dir` (laid out as metadata_dir is). */
  snapshot(dir: string): Promise<void>;
  close(): Promise<void>;
}

/** The smallest key strictly greater than every key starting with prefix (undefined: no bound). */
export function prefixEnd(prefix: Buffer): Buffer | undefined {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return undefined;
}

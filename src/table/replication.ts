// Where a table's entries live and how many replicas must answer: sharded tables (objects,
// versions, block refs) on the partition's nodes, full tables (buckets, keys) on every
// storage node. Garage's TableShardedReplication / TableFullReplication.

import { LayoutError } from '../util/errors.ts';
import { quorums } from '../rpc/rpc_helper.ts';
import type { LayoutView } from '../rpc/layout/manager.ts';
import type { ReplicationKind } from './schema.ts';

/** A table's replication strategy. */
export interface TableReplication {
  readonly kind: ReplicationKind;
  /** The replica sets a write must reach (one per live layout version). */
  writeSets(hash: Buffer): string[][];
  /** The nodes to read from, and how many answers make a read quorum. */
  readNodes(hash: Buffer): { nodes: string[]; quorum: number };
  /** The write quorum in a replica set of this size. */
  writeQuorum(setSize: number): number;
  /** The replica sets of a partition for anti-entropy and tombstone GC (no readiness check). */
  syncSets(hash: Buffer): string[][];
}

type Consistency = 'consistent' | 'degraded' | 'dangerous';

function ready(layout: LayoutView): void {
  if (!layout.ready())
    throw new LayoutError(
      'the cluster layout is not ready: assign roles with `garage layout assign` then `garage layout apply`',
    );
}

class Sharded implements TableReplication {
  readonly kind = 'sharded' as const;
  readonly #layout: LayoutView;
  readonly #consistency: Consistency;

  constructor(layout: LayoutView, consistency: Consistency) {
    this.#layout = layout;
    this.#consistency = consistency;
  }

  writeSets(hash: Buffer): string[][] {
    ready(this.#layout);
    return this.#layout.writeSets(hash);
  }

  readNodes(hash: Buffer): { nodes: string[]; quorum: number } {
    ready(this.#layout);
    return {
      nodes: this.#layout.readNodes(hash),
      quorum: quorums(this.#layout.replicationFactor(), this.#consistency).read,
    };
  }

  writeQuorum(setSize: number): number {
    return Math.min(setSize, quorums(this.#layout.replicationFactor(), this.#consistency).write);
  }

  syncSets(hash: Buffer): string[][] {
    return this.#layout.writeSets(hash);
  }
}

class Full implements TableReplication {
  readonly kind = 'full' as const;
  readonly #layout: LayoutView;
  readonly #consistency: Consistency;
  readonly #self: string;

  constructor(layout: LayoutView, consistency: Consistency, self: string) {
    this.#layout = layout;
    this.#consistency = consistency;
    this.#self = self;
  }

  writeSets(): string[][] {
    ready(this.#layout);
    return this.#layout.storageNodeSets();
  }

  // Read locally when this node holds the table (it is small and written everywhere).
  readNodes(): { nodes: string[]; quorum: number } {
    ready(this.#layout);
    const nodes = this.#layout.readStorageNodes();
    return { nodes: nodes.includes(this.#self) ? [this.#self] : nodes, quorum: 1 };
  }

  // Tolerate as many faults as sharded tables do.
  writeQuorum(setSize: number): number {
    const { write } = quorums(this.#layout.replicationFactor(), this.#consistency);
    return Math.max(1, setSize - (this.#layout.replicationFactor() - write));
  }

  syncSets(): string[][] {
    return this.#layout.storageNodeSets();
  }
}

/** The replication strategy of a table of this kind. */
export function tableReplication(
  kind: ReplicationKind,
  layout: LayoutView,
  consistency: Consistency,
  self: string,
): TableReplication {
  return kind === 'full' ? new Full(layout, consistency, self) : new Sharded(layout, consistency);
}

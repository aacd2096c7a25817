import type { Command } from 'commander';
import type { AdminClient } from './client.ts';
import { addBucketCommands } from './bucket.ts';
import { addClusterCommands } from './cluster.ts';
import { addKeyCommands } from './key.ts';
import { addNodeCommands } from './node.ts';

/** How a CLI command reaches the daemon: connects, runs, closes. */
export type Runner = (fn: (c: AdminClient) => Promise<void>) => Promise<void>;

/** Adds every client subcommand to the program, one file per command group. */
export function addClientCommands(program: Command, run: Runner): void {
  addClusterCommands(program, run);
  addBucketCommands(program, run);
  addKeyCommands(program, run);
  addNodeCommands(program, run);
}

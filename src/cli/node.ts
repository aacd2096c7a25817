import type { Command } from 'commander';
import { AdminError } from '../util/errors.ts';
import type { RepairType } from '../admin/api.ts';
import type { Runner } from './commands.ts';
import { json, out, printPerNode, table } from './format.ts';

const where = (all: boolean | undefined) => (all ? '*' : 'self');

const REPAIRS: Record<string, Exclude<RepairType, object>> = {
  tables: 'tables',
  blocks: 'blocks',
  versions: 'versions',
  'multipart-uploads': 'multipartUploads',
  mpu: 'multipartUploads',
  'block-refs': 'blockRefs',
  'block-rc': 'blockRc',
  rebalance: 'rebalance',
  aliases: 'aliases',
};

/** `garage stats`, `repair`, `worker …`, `block …`, `meta …`: operations on nodes (-a: every node). */
export function addNodeCommands(program: Command, run: Runner): void {
  program
    .command('stats')
    .description('show statistics of this node (-a: of every node)')
    .option('-a, --all-nodes', 'every node of the cluster')
    .action((o: { allNodes?: boolean }) =>
      run(async (c) =>
        printPerNode(await c.local('GetNodeStatistics', where(o.allNodes), {}), (s) => out(s.freeform.trimEnd())),
      ),
    );
  program
    .command('repair')
    .description('launch a repair procedure in the background')
    .option('-a, --all-nodes', 'on every node of the cluster')
    .option('--yes', 'confirm')
    .argument('<what>', `${[...Object.keys(REPAIRS), 'scrub'].join(' | ')}`)
    .argument('[command]', 'for scrub: start (default) | pause | resume | cancel')
    .action((what: string, cmd: string | undefined, o: { allNodes?: boolean; yes?: boolean }) =>
      run(async (c) => {
        let repairType: RepairType;
        if (what === 'scrub') {
          const scrub = (['start', 'pause', 'resume', 'cancel'] as const).find((x) => x === (cmd ?? 'start'));
          if (!scrub) throw new AdminError(`unknown scrub command '${cmd}': start, pause, resume or cancel`);
          repairType = { scrub };
        } else {
          const r = REPAIRS[what];
          if (!r)
            throw new AdminError(
              `unknown repair '${what}': expected one of ${[...Object.keys(REPAIRS), 'scrub'].join(', ')}`,
            );
          repairType = r;
        }
        if (!o.yes) throw new AdminError('add --yes to launch a repair');
        printPerNode(await c.local('LaunchRepairOperation', where(o.allNodes), { repairType }), (r) => out(r));
      }),
    );

  const worker = program.command('worker').description('background workers');
  worker
    .command('list')
    .description('list background workers')
    .option('-a, --all-nodes', 'every node')
    .option('--busy', 'only busy workers')
    .option('--errors', 'only workers with errors')
    .option('--json', 'print as JSON')
    .action((o: { allNodes?: boolean; busy?: boolean; errors?: boolean; json?: boolean }) =>
      run(async (c) => {
        const r = await c.local('ListWorkers', where(o.allNodes), { busyOnly: o.busy, errorOnly: o.errors });
        if (o.json) return json(r);
        printPerNode(r, (ws) =>
          out(
            table([
              ['ID', 'Name', 'State', 'Errors', 'Status'],
              ...ws.map((w) => [
                String(w.id),
                w.name,
                typeof w.state === 'string' ? w.state : `throttled ${w.state.throttled.durationSecs}s`,
                String(w.errors),
                w.freeform.slice(1).join(' '),
              ]),
            ]),
          ),
        );
      }),
    );
  worker
    .command('info')
    .description('show one worker')
    .argument('<id>')
    .action((id: string) =>
      run(async (c) =>
        printPerNode(await c.local('GetWorkerInfo', 'self', { id: Number(id) }), (w) => {
          out(`Worker ${w.id}: ${w.name} (${typeof w.state === 'string' ? w.state : 'throttled'})`);
          for (const l of w.freeform) out(`  ${l}`);
          if (w.lastError) out(`Last error (${w.lastError.secsAgo}s ago): ${w.lastError.message}`);
        }),
      ),
    );
  worker
    .command('get')
    .description('show worker variables')
    .argument('[variable]')
    .option('-a, --all-nodes', 'every node')
    .action((variable: string | undefined, o: { allNodes?: boolean }) =>
      run(async (c) =>
        printPerNode(await c.local('GetWorkerVariable', where(o.allNodes), { variable }), (vars) =>
          out(table(Object.entries(vars).map(([k, v]) => [k, v]))),
        ),
      ),
    );
  worker
    .command('set')
    .description('set a worker variable')
    .argument('<variable>')
    .argument('<value>')
    .option('-a, --all-nodes', 'every node')
    .action((variable: string, value: string, o: { allNodes?: boolean }) =>
      run(async (c) =>
        printPerNode(await c.local('SetWorkerVariable', where(o.allNodes), { variable, value }), (r) =>
          out(`${r.variable} set to ${r.value}`),
        ),
      ),
    );

  const block = program.command('block').description('operations on data blocks');
  block
    .command('list-errors')
    .description('list blocks whose resync failed')
    .option('--json', 'print as JSON')
    .action((o: { json?: boolean }) =>
      run(async (c) => {
        const r = await c.local('ListBlockErrors', 'self', {});
        if (o.json) return json(r);
        printPerNode(r, (es) =>
          out(
            table([
              ['Hash', 'Refcount', 'Tries', 'Last try', 'Next try'],
              ...es.map((e) => [
                e.blockHash,
                String(e.refcount),
                String(e.errorCount),
                `${e.lastTrySecsAgo}s ago`,
                `in ${e.nextTryInSecs}s`,
              ]),
            ]),
          ),
        );
      }),
    );
  block
    .command('info')
    .description('show what this node knows of a block')
    .argument('<hash>')
    .action((hash: string) =>
      run(async (c) =>
        printPerNode(await c.local('GetBlockInfo', 'self', { blockHash: hash }), (i) => {
          out(`Block hash: ${i.blockHash}`);
          out(`Refcount: ${i.refcount}`);
          out('');
          out(
            table([
              ['Version', 'Ref deleted', 'Version deleted', 'Version GCed', 'Group row', 'Object version', 'Key'],
              ...i.versions.map((v) => {
                const key = v.backlink
                  ? 'object' in v.backlink
                    ? v.backlink.object.key
                    : v.backlink.upload.key
                  : null;
                return [
                  v.versionId,
                  String(v.refDeleted),
                  String(v.versionDeleted),
                  String(v.garbageCollected),
                  v.groupRow ?? '',
                  v.objectVersion ?? '',
                  key === null ? '' : JSON.stringify(key),
                ];
              }),
            ]),
          );
        }),
      ),
    );
  block
    .command('retry-now')
    .description('retry the resync of blocks now')
    .option('--all', 'every block in error')
    .argument('[hashes...]')
    .action((hashes: string[], o: { all?: boolean }) =>
      run(async (c) => {
        if (!o.all && hashes.length === 0) throw new AdminError('give block hashes or --all');
        const req = o.all ? { all: true } : { blockHashes: hashes };
        printPerNode(await c.local('RetryBlockResync', 'self', req), (r) =>
          out(`${r.count} block(s) queued for a retry now.`),
        );
      }),
    );
  block
    .command('purge')
    .description('delete every object and upload that references the given (lost) blocks')
    .option('--yes', 'confirm')
    .argument('<hashes...>')
    .action((hashes: string[], o: { yes?: boolean }) =>
      run(async (c) => {
        if (!o.yes) throw new AdminError('add --yes to delete every object that references these blocks');
        printPerNode(await c.local('PurgeBlocks', 'self', hashes), (r) =>
          out(
            `${r.blocksPurged} block(s) purged: ${r.objectsDeleted} object(s), ${r.uploadsDeleted} upload(s), ` +
              `${r.versionsDeleted} version(s) and ${r.blockRefsPurged} reference(s) deleted`,
          ),
        );
      }),
    );

  program
    .command('meta')
    .description('operations on the metadata database')
    .command('snapshot')
    .description('write a consistent copy of the metadata database (to metadata_snapshots_dir)')
    .option('--all', 'on every node')
    .action((o: { all?: boolean }) =>
      run(async (c) =>
        printPerNode(await c.local('CreateMetadataSnapshot', where(o.all), {}), () => out('Snapshot written.')),
      ),
    );
}

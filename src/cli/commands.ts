import type { Command } from 'commander';
import type { Config } from '../util/config.ts';
import { parseSize } from '../util/config.ts';
import { AdminError } from '../util/errors.ts';
import type {
  AdminRequest,
  BucketInfo,
  KeyInfo,
  LayoutShowResult,
  NodeAnswer,
  StatusResult,
  BlockRefInfo,
} from '../rpc/admin_protocol.ts';
import type { AssignReport, NodeRole } from '../rpc/layout/assign.ts';
import type { WorkerInfo } from '../util/background.ts';
import type { AdminClient } from './client.ts';
import { bytes, capacity, shortId, table } from './format.ts';

/** How a CLI command reaches the daemon: loads config, connects, runs, closes. */
export type Runner = (fn: (c: AdminClient, config: Config) => Promise<void>) => Promise<void>;

const out = (s: string) => process.stdout.write(`${s}\n`);
const collect = (v: string, prev: string[]) => [...prev, v];

function printKey(k: KeyInfo): void {
  out(`Key name: ${k.name}`);
  out(`Key ID: ${k.id}`);
  out(`Secret key: ${k.secret ?? '(redacted)'}`);
  out(`Can create buckets: ${k.allowCreateBucket}`);
  out('Authorized buckets:');
  if (k.buckets.length)
    out(
      table(
        k.buckets.map((b) => [
          `  ${b.read ? 'R' : ' '}${b.write ? 'W' : ' '}${b.owner ? 'O' : ' '}`,
          b.aliases.join(', '),
          b.id.slice(0, 16),
        ]),
      ),
    );
}

function printBucket(b: BucketInfo): void {
  out(`Bucket: ${b.id}`);
  out(`Created: ${new Date(b.created).toISOString()}`);
  out('');
  out(`Size: ${bytes(b.bytes)} (${b.bytes} bytes)`);
  out(`Objects: ${b.objects}`);
  out(`Unfinished multipart uploads: ${b.unfinishedUploads}`);
  out('');
  out(
    `Quotas: ${b.quotas.maxSize === null ? 'no size limit' : `max size ${bytes(b.quotas.maxSize)}`}, ${b.quotas.maxObjects === null ? 'no object limit' : `max ${b.quotas.maxObjects} objects`}`,
  );
  out(
    `Website access: ${b.website ? `true (index: ${b.website.index}${b.website.errorDocument ? `, error: ${b.website.errorDocument}` : ''})` : 'false'}`,
  );
  out('');
  out('Global aliases:');
  for (const a of b.globalAliases) out(`  ${a}`);
  if (b.localAliases.length) {
    out('Local aliases:');
    for (const a of b.localAliases) out(`  ${a.keyId}: ${a.name}`);
  }
  out('');
  out('Authorized keys:');
  if (b.keys.length)
    out(
      table(b.keys.map((k) => [`  ${k.read ? 'R' : ' '}${k.write ? 'W' : ' '}${k.owner ? 'O' : ' '}`, k.id, k.name])),
    );
}

function printReport(r: AssignReport): void {
  out(`Partition size: ${capacity(r.partitionSize)}`);
  out(`Usable capacity: ${capacity(r.usableCapacity)}`);
  out(`Effective zone redundancy: ${r.effectiveZoneRedundancy}`);
  out('');
  out(
    table([
      ['Node', 'Zone', 'Partitions', 'Usable capacity', 'Capacity'],
      ...r.perNode.map((n) => [
        shortId(n.id),
        n.zone,
        String(n.partitions),
        capacity(n.usableCapacity),
        capacity(n.capacity),
      ]),
    ]),
  );
  out('');
  out(`Partition replicas moved by this change: ${r.moved}`);
}

function roleRow(r: NodeRole): string[] {
  return [shortId(r.id), (r.tags ?? []).join(','), r.zone, capacity(r.capacity)];
}

/** Adds every client subcommand to the program. */
export function addClientCommands(program: Command, run: Runner): void {
  program
    .command('status')
    .description('show the status of the cluster')
    .action(() =>
      run(async (c) => {
        const s = await c.call<StatusResult>({ op: 'status' });
        const healthy = s.nodes.filter((n) => n.peer.connected);
        out('==== HEALTHY NODES ====');
        out(
          table([
            ['ID', 'Hostname', 'Address', 'Tags', 'Zone', 'Capacity', 'DataAvail'],
            ...healthy.map((n) => [
              shortId(n.peer.id),
              n.status?.hostname ?? '?',
              n.status?.addr ?? n.peer.addr ?? '',
              ...(n.role
                ? [(n.role.tags ?? []).join(','), n.role.zone, capacity(n.role.capacity)]
                : ['NO ROLE ASSIGNED', '', '']),
              n.status?.dataAvail
                ? `${bytes(n.status.dataAvail.free)} (${((100 * n.status.dataAvail.free) / n.status.dataAvail.total).toFixed(1)}%)`
                : '',
            ]),
          ]),
        );
        const down = s.nodes.filter((n) => !n.peer.connected && n.role);
        if (down.length) {
          out('');
          out('==== FAILED NODES ====');
          out(
            table([
              ['ID', 'Hostname', 'Address', 'Tags', 'Zone', 'Capacity', 'Last seen'],
              ...down.map((n) => [
                shortId(n.peer.id),
                '?',
                n.peer.addr ?? '',
                ...roleRow(n.role!).slice(1),
                n.peer.lastSeen ? `${Math.round((Date.now() - n.peer.lastSeen) / 1000)}s ago` : 'never seen',
              ]),
            ]),
          );
        }
      }),
    );

  const node = program.command('node').description('operations on individual nodes');
  node
    .command('id')
    .description('print the identifier of this node (<id>@<rpc_public_addr>)')
    .option('-q, --quiet', 'print only the identifier')
    .action((o: { quiet?: boolean }) =>
      run(async (c) => {
        const r = await c.call<{ id: string; addr: string | null }>({ op: 'node-id' });
        out(r.addr ? `${r.id}@${r.addr}` : r.id);
        if (!o.quiet && !r.addr)
          process.stderr.write(
            '(rpc_public_addr is not set: append @<host>:<port> yourself when connecting other nodes)\n',
          );
      }),
    );
  node
    .command('connect')
    .description('connect to another node: <id>@<host>:<port>')
    .argument('<node>')
    .action((peer: string) =>
      run(async (c) => {
        await c.call({ op: 'node-connect', peer });
        out(`Success.`);
      }),
    );

  const layout = program.command('layout').description('operations on the cluster layout');
  layout
    .command('assign')
    .description('assign a role to one or more nodes (staged until apply)')
    .argument('[node_ids...]')
    .option('-z, --zone <zone>', 'zone (datacenter) of the node')
    .option('-c, --capacity <capacity>', 'storage capacity (e.g. 1, 10, 1G, 1T)')
    .option('-g, --gateway', 'gateway node: serves requests, stores no data')
    .option('-t, --tag <tag>', 'a tag for the node (repeat for several, or comma-separated)', collect, [])
    .option('--replace <node_id>', 'a node this one replaces (it is removed; repeatable)', collect, [])
    .action(
      (ids: string[], o: { zone?: string; capacity?: string; gateway?: boolean; tag?: string[]; replace?: string[] }) =>
        run(async (c) => {
          if (ids.length === 0) throw new AdminError('give the id (or a prefix) of the node to assign');
          if (o.gateway && o.capacity) throw new AdminError('-g/--gateway and -c/--capacity are exclusive');
          let cap: number | undefined;
          if (o.capacity !== undefined) {
            try {
              cap = parseSize(o.capacity);
            } catch (e) {
              throw new AdminError(`invalid capacity '${o.capacity}': ${(e as Error).message}`);
            }
            if (cap <= 0) throw new AdminError('capacity must be positive (use -g for a gateway)');
          }
          await c.call({
            op: 'layout-assign',
            nodes: ids,
            zone: o.zone,
            capacity: cap,
            gateway: o.gateway,
            tags: o.tag?.length ? o.tag.flatMap((t) => t.split(',')) : undefined,
            replace: o.replace,
          });
          out('Role changes are staged but not yet committed.');
          out('Use `garage layout show` to view staged role changes,');
          out('and `garage layout apply` to enact staged changes.');
        }),
    );
  layout
    .command('remove')
    .description('remove the role of a node (staged until apply)')
    .argument('<node_id>')
    .action((id: string) =>
      run(async (c) => {
        await c.call({ op: 'layout-remove', node: id });
        out('Role removal is staged but not yet committed.');
        out('Use `garage layout show` to view staged role changes,');
        out('and `garage layout apply` to enact staged changes.');
      }),
    );
  layout
    .command('config')
    .description('layout parameters')
    .option('-r, --redundancy <n>', "zone redundancy: a number or 'maximum'")
    .action((o: { redundancy?: string }) =>
      run(async (c) => {
        if (!o.redundancy) throw new AdminError('nothing to change: use -r <n|maximum>');
        const zr = o.redundancy === 'maximum' ? 'maximum' : Number(o.redundancy);
        if (zr !== 'maximum' && (!Number.isInteger(zr) || zr < 1))
          throw new AdminError(`invalid zone redundancy '${o.redundancy}'`);
        await c.call({ op: 'layout-config', zoneRedundancy: zr });
        out('The zone redundancy parameter is staged.');
      }),
    );
  layout
    .command('show')
    .description('show the current layout and staged changes')
    .option('--json', 'print everything, including the partition assignment, as JSON')
    .action((o: { json?: boolean }) =>
      run(async (c) => {
        const s = await c.call<LayoutShowResult>({ op: 'layout-show' });
        if (o.json) {
          out(JSON.stringify(s, null, 2));
          return;
        }
        out('==== CURRENT CLUSTER LAYOUT ====');
        out(
          table([
            ['ID', 'Tags', 'Zone', 'Capacity', 'Usable capacity', 'Partitions'],
            ...s.roles.map((r) => [
              ...roleRow(r),
              r.capacity === null ? '' : capacity((s.partitionsPerNode[r.id] ?? 0) * s.partitionSize),
              String(s.partitionsPerNode[r.id] ?? 0),
            ]),
          ]),
        );
        out('');
        out(`Current cluster layout version: ${s.version}`);
        if (s.liveVersions.length > 1)
          out(`Data is moving: versions ${s.liveVersions.join(', ')} are live until every node has synced`);
        out(`Replication factor: ${s.replicationFactor}; zone redundancy: ${s.zoneRedundancy}`);
        if (s.staged.length || s.stagedZoneRedundancy !== null) {
          out('');
          out('==== STAGED ROLE CHANGES ====');
          out(
            table([
              ['ID', 'Tags', 'Zone', 'Capacity'],
              ...s.staged.map(({ id, role }) => (role ? roleRow(role) : [shortId(id), 'REMOVED', '', ''])),
            ]),
          );
          if (s.stagedZoneRedundancy !== null) out(`Zone redundancy: ${s.stagedZoneRedundancy}`);
          out('');
          if (s.preview) {
            out('==== NEW CLUSTER LAYOUT AFTER APPLYING CHANGES ====');
            printReport(s.preview);
            out('');
            out('To enact the staged role changes, type:');
            out('');
            out(`    garage layout apply --version ${s.version + 1}`);
            out('');
            out('You can also revert all proposed changes with: garage layout revert');
          } else out(`The staged changes cannot be applied: ${s.previewError}`);
        }
      }),
    );
  layout
    .command('apply')
    .description('apply the staged changes as a new layout version')
    .option('--version <n>', 'the new version number (current + 1)')
    .action((o: { version?: string }) =>
      run(async (c) => {
        const r = await c.call<{ version: number; report: AssignReport }>({
          op: 'layout-apply',
          version: o.version === undefined ? undefined : Number(o.version),
        });
        out('==== COMPUTATION OF A NEW PARTITION ASSIGNATION ====');
        out('');
        printReport(r.report);
        out('');
        out(`New cluster layout with updated role assignment has been applied in cluster (version ${r.version}).`);
        out('Data will now be moved around between nodes accordingly.');
      }),
    );
  layout
    .command('skip-dead-nodes')
    .description('let a layout transition finish without the nodes that are down')
    .requiredOption('--version <n>', 'the current layout version')
    .option('--allow-missing-data', 'accepted for compatibility with Garage')
    .action((o: { version: string; allowMissingData?: boolean }) =>
      run(async (c) => {
        const dead = await c.call<string[]>({
          op: 'layout-skip-dead-nodes',
          version: Number(o.version),
          allowMissingData: !!o.allowMissingData,
        });
        out(`Trackers updated for ${dead.length} node(s) that are down: ${dead.map(shortId).join(', ')}`);
      }),
    );
  layout
    .command('revert')
    .description('drop the staged changes')
    .option('--version <n>', 'the new version number (current + 1)')
    .option('--yes', 'confirm')
    .action((o: { version?: string }) =>
      run(async (c) => {
        await c.call({ op: 'layout-revert', version: o.version === undefined ? undefined : Number(o.version) });
        out('All proposed role changes in cluster layout have been canceled.');
      }),
    );

  const bucket = program.command('bucket').description('operations on buckets');
  bucket
    .command('list')
    .description('list buckets')
    .action(() =>
      run(async (c) => {
        const list = await c.call<{ id: string; created: number; globalAliases: string[]; localAliases: string[] }[]>({
          op: 'bucket-list',
        });
        out(
          table([
            ['ID', 'Created', 'Global aliases', 'Local aliases'],
            ...list.map((b) => [
              b.id.slice(0, 16),
              new Date(b.created).toISOString().slice(0, 10),
              b.globalAliases.join(', '),
              b.localAliases.join(', '),
            ]),
          ]),
        );
      }),
    );
  bucket
    .command('info')
    .description('show a bucket')
    .argument('<name>')
    .action((name: string) => run(async (c) => printBucket(await c.call<BucketInfo>({ op: 'bucket-info', name }))));
  bucket
    .command('create')
    .description('create a bucket')
    .argument('<name>')
    .action((name: string) =>
      run(async (c) => {
        await c.call<BucketInfo>({ op: 'bucket-create', name });
        out(`Bucket ${name} was created.`);
      }),
    );
  bucket
    .command('delete')
    .description('delete a bucket without objects (aborts its multipart uploads)')
    .argument('<name>')
    .option('--yes', 'confirm')
    .action((name: string, o: { yes?: boolean }) =>
      run(async (c) => {
        if (!o.yes) throw new AdminError(`add --yes to delete bucket '${name}'`);
        await c.call({ op: 'bucket-delete', name });
        out(`Bucket ${name} was deleted.`);
      }),
    );
  for (const verb of ['allow', 'deny'] as const) {
    bucket
      .command(verb)
      .description(`${verb} a key's access to a bucket`)
      .argument('<bucket>')
      .requiredOption('--key <key>', 'key id, prefix or name')
      .option('--read', 'read permission')
      .option('--write', 'write permission')
      .option('--owner', 'owner permission')
      .action((name: string, o: { key: string; read?: boolean; write?: boolean; owner?: boolean }) =>
        run(async (c) => {
          await c.call({
            op: `bucket-${verb}`,
            bucket: name,
            key: o.key,
            read: !!o.read,
            write: !!o.write,
            owner: !!o.owner,
          });
          const perms = [o.read && 'read', o.write && 'write', o.owner && 'owner'].filter(Boolean).join(', ');
          out(
            verb === 'allow'
              ? `New permissions for key ${o.key} on bucket ${name}: ${perms} granted.`
              : `Permissions ${perms} of key ${o.key} on bucket ${name} revoked.`,
          );
        }),
      );
  }
  bucket
    .command('alias')
    .description('add an alias to a bucket')
    .argument('<bucket>')
    .argument('<alias>')
    .option('--local <key>', 'make it a local alias of this key')
    .action((b: string, name: string, o: { local?: string }) =>
      run(async (c) => {
        await c.call({ op: 'bucket-alias', bucket: b, name, localKey: o.local });
        out(`Alias ${name} now points to bucket ${b}.`);
      }),
    );
  bucket
    .command('unalias')
    .description('remove an alias')
    .argument('<alias>')
    .option('--local <key>', 'a local alias of this key')
    .action((name: string, o: { local?: string }) =>
      run(async (c) => {
        await c.call({ op: 'bucket-unalias', name, localKey: o.local });
        out(`Alias ${name} was removed.`);
      }),
    );
  bucket
    .command('website')
    .description('allow or deny website access')
    .argument('<bucket>')
    .option('--allow')
    .option('--deny')
    .option('--index-document <doc>', 'index document', 'index.html')
    .option('--error-document <doc>', 'error document')
    .action((b: string, o: { allow?: boolean; deny?: boolean; indexDocument: string; errorDocument?: string }) =>
      run(async (c) => {
        if (!!o.allow === !!o.deny) throw new AdminError('give exactly one of --allow or --deny');
        await c.call({
          op: 'bucket-website',
          bucket: b,
          allow: !!o.allow,
          index: o.indexDocument,
          errorDocument: o.errorDocument,
        });
        out(o.allow ? `Website access allowed for ${b}` : `Website access denied for ${b}`);
      }),
    );

  bucket
    .command('set-quotas')
    .description('set or remove the quotas of a bucket')
    .argument('<bucket>')
    .option('--max-size <size>', "largest total size (e.g. 10G, 500MiB), or 'none'")
    .option('--max-objects <n>', "largest number of objects, or 'none'")
    .action((b: string, o: { maxSize?: string; maxObjects?: string }) =>
      run(async (c) => {
        if (o.maxSize === undefined && o.maxObjects === undefined)
          throw new AdminError('give --max-size and/or --max-objects');
        let maxSize: number | null | undefined;
        if (o.maxSize !== undefined) {
          try {
            maxSize = o.maxSize === 'none' ? null : parseSize(o.maxSize);
          } catch (e) {
            throw new AdminError(`invalid --max-size '${o.maxSize}': ${(e as Error).message}`);
          }
        }
        let maxObjects: number | null | undefined;
        if (o.maxObjects !== undefined) {
          maxObjects = o.maxObjects === 'none' ? null : Number(o.maxObjects);
          if (maxObjects !== null && (!Number.isInteger(maxObjects) || maxObjects < 0))
            throw new AdminError(`invalid --max-objects '${o.maxObjects}'`);
        }
        await c.call({ op: 'bucket-set-quotas', bucket: b, maxSize, maxObjects });
        out(`Quotas updated for bucket ${b}.`);
      }),
    );

  const key = program.command('key').description('operations on access keys');
  key
    .command('list')
    .description('list keys')
    .action(() =>
      run(async (c) => {
        const list = await c.call<{ id: string; name: string }[]>({ op: 'key-list' });
        out(table([['ID', 'Name'], ...list.map((k) => [k.id, k.name])]));
      }),
    );
  key
    .command('info')
    .description('show a key')
    .argument('<key>')
    .option('--show-secret', 'show the secret key')
    .action((pattern: string, o: { showSecret?: boolean }) =>
      run(async (c) => printKey(await c.call<KeyInfo>({ op: 'key-info', pattern, showSecret: !!o.showSecret }))),
    );
  key
    .command('new')
    .alias('create')
    .description('create a key')
    .option('--name <name>', 'name of the key', 'Unnamed key')
    .argument('[name]')
    .action((name: string | undefined, o: { name: string }) =>
      run(async (c) => printKey(await c.call<KeyInfo>({ op: 'key-new', name: name ?? o.name }))),
    );
  key
    .command('import')
    .description('import an existing key')
    .argument('<key_id>')
    .argument('<secret_key>')
    .option('-n, --name <name>', 'name of the key', 'Imported key')
    .option('--yes', 'confirm')
    .action((id: string, secret: string, o: { name: string }) =>
      run(async (c) => printKey(await c.call<KeyInfo>({ op: 'key-import', id, secret, name: o.name }))),
    );
  key
    .command('rename')
    .description('rename a key')
    .argument('<key>')
    .argument('<new_name>')
    .action((pattern: string, name: string) =>
      run(async (c) => printKey(await c.call<KeyInfo>({ op: 'key-rename', pattern, name }))),
    );
  key
    .command('delete')
    .description('delete a key')
    .argument('<key>')
    .option('--yes', 'confirm')
    .action((pattern: string, o: { yes?: boolean }) =>
      run(async (c) => {
        if (!o.yes) throw new AdminError(`add --yes to delete key '${pattern}'`);
        await c.call({ op: 'key-delete', pattern });
        out(`Key ${pattern} was deleted.`);
      }),
    );
  for (const verb of ['allow', 'deny'] as const) {
    key
      .command(verb)
      .description(`${verb} key-wide permissions`)
      .argument('<key>')
      .option('--create-bucket', 'permission to create buckets')
      .action((pattern: string, o: { createBucket?: boolean }) =>
        run(async (c) =>
          printKey(await c.call<KeyInfo>({ op: `key-${verb}`, pattern, createBucket: !!o.createBucket })),
        ),
      );
  }

  type Stats = {
    tables: { name: string; items: number; queue: number; digest: string }[];
    blocks: { refcounted: number; stored: number; resyncQueue: number; errors: number };
  };
  const printStats = (st: Stats) => {
    out(
      table([
        ['Table', 'Items', 'Insert queue', 'Digest'],
        ...st.tables.map((t) => [t.name, String(t.items), String(t.queue), t.digest]),
      ]),
    );
    out('');
    out(`Blocks with a refcount: ${st.blocks.refcounted}`);
    out(`Blocks stored here: ${st.blocks.stored}`);
    out(`Resync queue length: ${st.blocks.resyncQueue}`);
    out(`Blocks with resync errors: ${st.blocks.errors}`);
  };
  // Runs a request on this node, or with -a on every node, printing each node's answer.
  const perNode = async <T>(c: AdminClient, all: boolean | undefined, req: AdminRequest, print: (r: T) => void) => {
    if (!all) {
      print(await c.call<T>(req));
      return;
    }
    const answers = await c.call<NodeAnswer[]>({ op: 'all-nodes', req });
    for (const a of answers) {
      out(`======================`);
      out(`Node ${a.node.slice(0, 16)}:`);
      out('');
      if (a.error !== undefined) out(`Error: ${a.error}`);
      else print(a.ok as T);
      out('');
    }
    if (answers.some((a) => a.error !== undefined)) process.exitCode = 1;
  };

  program
    .command('stats')
    .description('show statistics of this node (-a: of every node)')
    .option('-a, --all-nodes', 'every node of the cluster')
    .action((o: { allNodes?: boolean }) => run((c) => perNode<Stats>(c, o.allNodes, { op: 'stats' }, printStats)));
  program
    .command('repair')
    .description('launch a repair procedure in the background')
    .option('-a, --all-nodes', 'on every node of the cluster')
    .option('--yes', 'confirm')
    .argument('<what>', 'tables | blocks | versions | block-refs | block-rc | scrub')
    .action((what: string, o: { allNodes?: boolean; yes?: boolean }) =>
      run(async (c) => {
        const kinds = ['tables', 'blocks', 'versions', 'block-refs', 'block-rc', 'scrub'] as const;
        const kind = kinds.find((k) => k === what);
        if (!kind) throw new AdminError(`unknown repair '${what}': expected one of ${kinds.join(', ')}`);
        if (!o.yes) throw new AdminError('add --yes to launch a repair');
        await perNode<string>(c, o.allNodes, { op: 'repair', what: kind }, (r) => out(r));
      }),
    );
  program
    .command('worker')
    .description('background workers')
    .command('list')
    .description('list background workers')
    .option('-a, --all-nodes', 'every node')
    .action((o: { allNodes?: boolean }) =>
      run((c) =>
        perNode<WorkerInfo[]>(c, o.allNodes, { op: 'worker-list' }, (ws) => {
          out(
            table([
              ['Name', 'Status', 'Last activity'],
              ...ws.map((w) => [
                w.name,
                Object.entries(w.status)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(' '),
                w.lastActivity ? new Date(w.lastActivity).toISOString() : '-',
              ]),
            ]),
          );
        }),
      ),
    );
  const block = program.command('block').description('operations on data blocks');
  block
    .command('list-errors')
    .description('list blocks whose resync failed')
    .action(() =>
      run(async (c) => {
        const es = await c.call<{ hash: string; tries: number; nextTry: number; error: string }[]>({
          op: 'block-list-errors',
        });
        out(
          table([
            ['Hash', 'Tries', 'Next try', 'Last error'],
            ...es.map((e) => [e.hash, String(e.tries), new Date(e.nextTry).toISOString(), e.error]),
          ]),
        );
      }),
    );
  block
    .command('info')
    .description('show what this node knows of a block')
    .argument('<hash>')
    .action((hash: string) =>
      run(async (c) => {
        const i = await c.call<{
          refcount: number;
          stored?: { path: string; size: number; compressed: boolean };
          error?: string;
          refs: BlockRefInfo[];
        }>({ op: 'block-info', hash });
        out(`Block hash: ${hash}`);
        out(`Refcount: ${i.refcount}`);
        out(
          `Stored here: ${i.stored ? `${i.stored.path} (${i.stored.size} bytes${i.stored.compressed ? ', zstd' : ''})` : 'no'}`,
        );
        if (i.error) out(`Last resync error: ${i.error}`);
        out('');
        out(
          table([
            ['Version', 'Deleted', 'Version row', 'Group row', 'Object version', 'Key'],
            ...i.refs.map((r) => [
              r.version,
              String(r.deleted),
              r.versionRow,
              r.groupRow,
              r.objectVersion ?? '',
              r.key === undefined ? '' : JSON.stringify(r.key),
            ]),
          ]),
        );
      }),
    );
  block
    .command('retry-now')
    .description('retry the resync of blocks now')
    .option('--all', 'every block in error')
    .argument('[hashes...]')
    .action((hashes: string[], o: { all?: boolean }) =>
      run(async (c) => {
        if (!o.all && hashes.length === 0) throw new AdminError('give block hashes or --all');
        const n = await c.call<number>({ op: 'block-retry-now', hashes, all: !!o.all });
        out(`${n} block(s) queued for a retry now.`);
      }),
    );
}

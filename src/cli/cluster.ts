import type { Command } from 'commander';
import { parseSize } from '../util/config.ts';
import { AdminError, errorMessage } from '../util/errors.ts';
import type { Runner } from './commands.ts';
import { bytes, capacity, json, layoutTable, out, shortId, table } from './format.ts';

const collect = (v: string, prev: string[]) => [...prev, v];
const staged = () => {
  out('Role changes are staged but not yet committed.');
  out('Use `garage layout show` to view staged role changes,');
  out('and `garage layout apply` to enact staged changes.');
};

/** `garage status`, `garage node …`. */
export function addClusterCommands(program: Command, run: Runner): void {
  program
    .command('status')
    .description('show the status of the cluster')
    .option('--json', 'print the status as JSON')
    .action((o: { json?: boolean }) =>
      run(async (c) => {
        const s = await c.call('GetClusterStatus', {});
        if (o.json) return json(s);
        const pct = (a: { available: number; total: number }) =>
          `${bytes(a.available)} (${((100 * a.available) / a.total).toFixed(1)}%)`;
        out('==== HEALTHY NODES ====');
        out(
          table([
            ['ID', 'Hostname', 'Address', 'Tags', 'Zone', 'Capacity', 'DataAvail'],
            ...s.nodes
              .filter((n) => n.isUp)
              .map((n) => [
                shortId(n.id),
                n.hostname ?? '?',
                n.addr ?? '',
                ...(n.role
                  ? [n.role.tags.join(','), n.role.zone, capacity(n.role.capacity)]
                  : ['NO ROLE ASSIGNED', '', '']),
                n.dataPartition ? pct(n.dataPartition) : '',
              ]),
          ]),
        );
        const down = s.nodes.filter((n) => !n.isUp && n.role);
        if (down.length) {
          out('');
          out('==== FAILED NODES ====');
          out(
            table([
              ['ID', 'Hostname', 'Address', 'Tags', 'Zone', 'Capacity', 'Last seen'],
              ...down.map((n) => [
                shortId(n.id),
                n.hostname ?? '?',
                n.addr ?? '',
                n.role!.tags.join(','),
                n.role!.zone,
                capacity(n.role!.capacity),
                n.lastSeenSecsAgo === null ? 'never seen' : `${n.lastSeenSecsAgo}s ago`,
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
        const self = (await c.call('GetClusterStatus', {})).nodes.find((n) => n.id === c.target);
        const addr = self?.addr ?? null;
        out(addr ? `${c.target}@${addr}` : c.target);
        if (!o.quiet && !addr)
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
        const [r] = await c.call('ConnectClusterNodes', { body: [peer] });
        if (!r?.success) throw new AdminError(`could not connect to ${peer}: ${r?.error ?? 'no answer'}`);
        out('Success.');
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
      (ids: string[], o: { zone?: string; capacity?: string; gateway?: boolean; tag: string[]; replace: string[] }) =>
        run(async (c) => {
          if (ids.length === 0) throw new AdminError('give the id (or a prefix) of the node to assign');
          if (o.gateway && o.capacity) throw new AdminError('-g/--gateway and -c/--capacity are exclusive');
          let cap: number | undefined;
          if (o.capacity !== undefined) {
            try {
              cap = parseSize(o.capacity);
            } catch (e) {
              throw new AdminError(`invalid capacity '${o.capacity}': ${errorMessage(e)}`);
            }
            if (cap <= 0) throw new AdminError('capacity must be positive (use -g for a gateway)');
          }
          const l = await c.call('GetClusterLayout', {});
          const status = await c.call('GetClusterStatus', {});
          const known = [...new Set([...status.nodes.map((n) => n.id), ...l.roles.map((r) => r.id)])];
          const resolve = (p: string) => {
            const m = known.filter((id) => id.startsWith(p.toLowerCase().replace(/@.*$/, '')));
            if (m.length === 1) return m[0]!;
            throw new AdminError(
              m.length ? `node id prefix '${p}' is ambiguous` : `no node id starts with '${p}' (see garage status)`,
            );
          };
          const current = new Map<string, { zone: string; capacity: number | null; tags: string[] }>(
            l.roles.map((r) => [r.id, r]),
          );
          for (const ch of l.stagedRoleChanges) if (!('remove' in ch)) current.set(ch.id, ch);
          const roles = ids.map((p) => {
            const id = resolve(p);
            const old = current.get(id);
            const zone = o.zone ?? old?.zone;
            if (!zone) throw new AdminError(`no zone given for node ${shortId(id)}: use -z <zone>`);
            const capacity = o.gateway ? null : (cap ?? old?.capacity);
            if (capacity === undefined)
              throw new AdminError(`no capacity given for node ${shortId(id)}: use -c <capacity> or -g for a gateway`);
            const tags = o.tag.length ? o.tag.flatMap((t) => t.split(',')) : (old?.tags ?? []);
            return { id, zone, capacity, tags };
          });
          const removed = o.replace.map((p) => ({ id: resolve(p), remove: true as const }));
          await c.call('UpdateClusterLayout', { body: { roles: [...roles, ...removed] } });
          staged();
        }),
    );
  layout
    .command('remove')
    .description('remove the role of a node (staged until apply)')
    .argument('<node_id>')
    .action((id: string) =>
      run(async (c) => {
        await c.call('UpdateClusterLayout', { body: { roles: [{ id, remove: true }] } });
        staged();
      }),
    );
  layout
    .command('config')
    .description('layout parameters')
    .option('-r, --redundancy <n>', "zone redundancy: a number or 'maximum'")
    .action((o: { redundancy?: string }) =>
      run(async (c) => {
        if (!o.redundancy) throw new AdminError('nothing to change: use -r <n|maximum>');
        const n = Number(o.redundancy);
        if (o.redundancy !== 'maximum' && (!Number.isInteger(n) || n < 1))
          throw new AdminError(`invalid zone redundancy '${o.redundancy}'`);
        const zoneRedundancy = o.redundancy === 'maximum' ? ('maximum' as const) : { atLeast: n };
        await c.call('UpdateClusterLayout', { body: { parameters: { zoneRedundancy } } });
        out('The zone redundancy parameter is staged.');
      }),
    );
  layout
    .command('show')
    .description('show the current layout and staged changes')
    .option('--json', 'print the layout, its live versions and the partition assignment as JSON')
    .action((o: { json?: boolean }) =>
      run(async (c) => {
        const l = await c.call('GetClusterLayout', {});
        if (o.json) {
          const parts = await c.call('GetClusterLayoutPartitions', {});
          const newest = parts.versions[parts.versions.length - 1];
          return json({
            ...l,
            liveVersions: parts.versions.map((v) => v.version),
            assignment: newest?.partitions ?? [],
          });
        }
        out('==== CURRENT CLUSTER LAYOUT ====');
        out(layoutTable(l));
        out('');
        out(`Current cluster layout version: ${l.version}`);
        const h = await c.call('GetClusterLayoutHistory', {});
        if (h.versions.length > 1)
          out(
            `Data is moving: versions ${h.versions.map((v) => v.version).join(', ')} are live until every node has synced`,
          );
        const zr = l.parameters.zoneRedundancy;
        out(`Zone redundancy: ${zr === 'maximum' ? 'maximum' : zr.atLeast}`);
        if (l.stagedRoleChanges.length || l.stagedParameters) {
          out('');
          out('==== STAGED ROLE CHANGES ====');
          out(
            table([
              ['ID', 'Tags', 'Zone', 'Capacity'],
              ...l.stagedRoleChanges.map((ch) =>
                'remove' in ch
                  ? [shortId(ch.id), 'REMOVED', '', '']
                  : [shortId(ch.id), ch.tags.join(','), ch.zone, capacity(ch.capacity)],
              ),
            ]),
          );
          const sz = l.stagedParameters?.zoneRedundancy;
          if (sz) out(`Zone redundancy: ${sz === 'maximum' ? 'maximum' : sz.atLeast}`);
          out('');
          const p = await c.call('PreviewClusterLayoutChanges', {});
          if ('error' in p) out(`The staged changes cannot be applied: ${p.error}`);
          else {
            out('==== NEW CLUSTER LAYOUT AFTER APPLYING CHANGES ====');
            out(layoutTable(p.newLayout));
            out('');
            for (const m of p.message) out(m);
            out('');
            out('To enact the staged role changes, type:');
            out('');
            out(`    garage layout apply --version ${l.version + 1}`);
            out('');
            out('You can also revert all proposed changes with: garage layout revert');
          }
        }
      }),
    );
  layout
    .command('apply')
    .description('apply the staged changes as a new layout version')
    .option('--version <n>', 'the new version number (current + 1)')
    .action((o: { version?: string }) =>
      run(async (c) => {
        const version =
          o.version === undefined ? (await c.call('GetClusterLayout', {})).version + 1 : Number(o.version);
        if (!Number.isInteger(version) || version < 0) throw new AdminError(`invalid --version '${o.version}'`);
        const r = await c.call('ApplyClusterLayout', { body: { version } });
        out('==== COMPUTATION OF A NEW PARTITION ASSIGNATION ====');
        out('');
        for (const m of r.message) out(m);
        out('');
        out(
          `New cluster layout with updated role assignment has been applied in cluster (version ${r.layout.version}).`,
        );
        out('Data will now be moved around between nodes accordingly.');
      }),
    );
  layout
    .command('revert')
    .description('drop the staged changes')
    .option('--version <n>', 'accepted for compatibility')
    .option('--yes', 'confirm')
    .action(() =>
      run(async (c) => {
        await c.call('RevertClusterLayout', {});
        out('All proposed role changes in cluster layout have been canceled.');
      }),
    );
  layout
    .command('history')
    .description('show the live layout versions and the transition trackers')
    .option('--json', 'print as JSON')
    .action((o: { json?: boolean }) =>
      run(async (c) => {
        const h = await c.call('GetClusterLayoutHistory', {});
        if (o.json) return json(h);
        out('==== LAYOUT HISTORY ====');
        out(
          table([
            ['Version', 'Status', 'Storage nodes', 'Gateway nodes'],
            ...h.versions.map((v) => [String(v.version), v.status, String(v.storageNodes), String(v.gatewayNodes)]),
          ]),
        );
        out('');
        out(`Current version: ${h.currentVersion}; every node has acked version ${h.minAck}`);
        out('');
        out('==== UPDATE TRACKERS ====');
        out(
          table([
            ['Node', 'Ack', 'Sync', 'Sync ack'],
            ...Object.entries(h.updateTrackers ?? {}).map(([n, t]) => [
              shortId(n),
              String(t.ack),
              String(t.sync),
              String(t.syncAck),
            ]),
          ]),
        );
      }),
    );
  layout
    .command('skip-dead-nodes')
    .description('let a layout transition finish without the nodes that are down')
    .requiredOption('--version <n>', 'the current layout version')
    .option('--allow-missing-data', 'accepted for compatibility with Garage')
    .action((o: { version: string; allowMissingData?: boolean }) =>
      run(async (c) => {
        const r = await c.call('ClusterLayoutSkipDeadNodes', {
          body: { version: Number(o.version), allowMissingData: !!o.allowMissingData },
        });
        out(
          `Trackers updated for ${r.ackUpdated.length} node(s) that are down: ${r.ackUpdated.map(shortId).join(', ')}`,
        );
      }),
    );
}

import type { Command } from 'commander';
import { parseSize } from '../util/config.ts';
import { AdminError, errorMessage } from '../util/errors.ts';
import type { AdminClient } from './client.ts';
import type { Runner } from './commands.ts';
import { json, out, parseDurationArg, printBucket, table } from './format.ts';

/** The id of a bucket named by alias or id prefix. */
export async function bucketId(c: AdminClient, name: string): Promise<string> {
  return (await c.call('GetBucketInfo', { search: name })).id;
}

/** The id of a key named by id prefix or name. */
export async function keyId(c: AdminClient, pattern: string): Promise<string> {
  return (await c.call('GetKeyInfo', { search: pattern })).accessKeyId;
}

/** `garage bucket …`. */
export function addBucketCommands(program: Command, run: Runner): void {
  const bucket = program.command('bucket').description('operations on buckets');
  bucket
    .command('list')
    .description('list buckets')
    .option('--json', 'print as JSON')
    .action((o: { json?: boolean }) =>
      run(async (c) => {
        const list = await c.call('ListBuckets', {});
        if (o.json) return json(list);
        out(
          table([
            ['ID', 'Created', 'Global aliases', 'Local aliases'],
            ...list.map((b) => [
              b.id.slice(0, 16),
              b.created.slice(0, 10),
              b.globalAliases.join(', '),
              b.localAliases.map((a) => `${a.alias} (${a.accessKeyId})`).join(', '),
            ]),
          ]),
        );
      }),
    );
  bucket
    .command('info')
    .description('show a bucket')
    .argument('<name>')
    .option('--json', 'print as JSON')
    .action((name: string, o: { json?: boolean }) =>
      run(async (c) => {
        const b = await c.call('GetBucketInfo', { search: name });
        if (o.json) json(b);
        else printBucket(b);
      }),
    );
  bucket
    .command('create')
    .description('create a bucket')
    .argument('<name>')
    .action((name: string) =>
      run(async (c) => {
        await c.call('CreateBucket', { body: { globalAlias: name } });
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
        await c.call('DeleteBucket', { id: await bucketId(c, name) });
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
          if (!o.read && !o.write && !o.owner)
            throw new AdminError('say which permission: --read, --write and/or --owner');
          const body = {
            bucketId: await bucketId(c, name),
            accessKeyId: await keyId(c, o.key),
            permissions: { read: !!o.read, write: !!o.write, owner: !!o.owner },
          };
          await c.call(verb === 'allow' ? 'AllowBucketKey' : 'DenyBucketKey', { body });
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
        const id = await bucketId(c, b);
        const body = o.local
          ? { bucketId: id, localAlias: name, accessKeyId: await keyId(c, o.local) }
          : { bucketId: id, globalAlias: name };
        await c.call('AddBucketAlias', { body });
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
        if (o.local) {
          const k = await c.call('GetKeyInfo', { search: o.local });
          const b = k.buckets.find((x) => x.localAliases.includes(name));
          if (!b) throw new AdminError(`key ${k.accessKeyId} has no local alias '${name}'`);
          await c.call('RemoveBucketAlias', { body: { bucketId: b.id, localAlias: name, accessKeyId: k.accessKeyId } });
        } else {
          const b = await c.call('GetBucketInfo', { globalAlias: name });
          await c.call('RemoveBucketAlias', { body: { bucketId: b.id, globalAlias: name } });
        }
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
        const websiteAccess = {
          enabled: !!o.allow,
          indexDocument: o.indexDocument,
          errorDocument: o.errorDocument ?? null,
        };
        await c.call('UpdateBucket', { id: await bucketId(c, b), body: { websiteAccess } });
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
            throw new AdminError(`invalid --max-size '${o.maxSize}': ${errorMessage(e)}`);
          }
        }
        let maxObjects: number | null | undefined;
        if (o.maxObjects !== undefined) {
          maxObjects = o.maxObjects === 'none' ? null : Number(o.maxObjects);
          if (maxObjects !== null && (!Number.isInteger(maxObjects) || maxObjects < 0))
            throw new AdminError(`invalid --max-objects '${o.maxObjects}'`);
        }
        await c.call('UpdateBucket', { id: await bucketId(c, b), body: { quotas: { maxSize, maxObjects } } });
        out(`Quotas updated for bucket ${b}.`);
      }),
    );
  bucket
    .command('cleanup-incomplete-uploads')
    .description('abort the multipart uploads of buckets started long ago')
    .option('--older-than <duration>', 'only uploads started this long ago (e.g. 1d, 12h)', '1d')
    .argument('<buckets...>')
    .action((names: string[], o: { olderThan: string }) =>
      run(async (c) => {
        const olderThanSecs = Math.floor(parseDurationArg(o.olderThan, '--older-than') / 1000);
        for (const name of names) {
          const r = await c.call('CleanupIncompleteUploads', {
            body: { bucketId: await bucketId(c, name), olderThanSecs },
          });
          out(`${name}: ${r.uploadsDeleted} incomplete upload(s) aborted`);
        }
      }),
    );
  bucket
    .command('inspect-object')
    .description('show every version of an object the cluster holds, with its blocks')
    .argument('<bucket>')
    .argument('<key>')
    .action((b: string, key: string) =>
      run(async (c) => json(await c.call('InspectObject', { bucketId: await bucketId(c, b), key }))),
    );
}

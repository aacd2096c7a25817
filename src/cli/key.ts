import type { Command } from 'commander';
import { AdminError } from '../util/errors.ts';
import type { AdminTokenInfo } from '../admin/api.ts';
import { keyId } from './bucket.ts';
import type { Runner } from './commands.ts';
import { json, out, parseDurationArg, printKey, table } from './format.ts';

const expiresIn = (s: string | undefined) =>
  s === undefined ? undefined : new Date(Date.now() + parseDurationArg(s, '--expires-in')).toISOString();

function printToken(t: AdminTokenInfo & { secretToken?: string }): void {
  out(`Token ID: ${t.id ?? '(from configuration)'}`);
  out(`Token name: ${t.name}`);
  out(`Created: ${t.created ?? '-'}`);
  out(`Expiration: ${t.expiration ?? 'never'}${t.expired ? ' (EXPIRED)' : ''}`);
  out(`Scope: ${t.scope.join(', ')}`);
  if (t.secretToken) {
    out('');
    out(`Secret token: ${t.secretToken}`);
    out('(shown once: store it now)');
  }
}

/** `garage key …` and `garage admin-token …`. */
export function addKeyCommands(program: Command, run: Runner): void {
  const key = program.command('key').description('operations on access keys');
  key
    .command('list')
    .description('list keys')
    .option('--json', 'print as JSON')
    .action((o: { json?: boolean }) =>
      run(async (c) => {
        const list = await c.call('ListKeys', {});
        if (o.json) return json(list);
        out(
          table([
            ['ID', 'Name', 'Created', 'Expiration'],
            ...list.map((k) => [
              k.id,
              k.name,
              k.created?.slice(0, 10) ?? '',
              k.expired ? 'EXPIRED' : (k.expiration ?? 'never'),
            ]),
          ]),
        );
      }),
    );
  key
    .command('info')
    .description('show a key')
    .argument('<key>')
    .option('--show-secret', 'show the secret key')
    .option('--json', 'print as JSON')
    .action((pattern: string, o: { showSecret?: boolean; json?: boolean }) =>
      run(async (c) => {
        const k = await c.call('GetKeyInfo', { search: pattern, showSecretKey: !!o.showSecret });
        if (o.json) json(k);
        else printKey(k);
      }),
    );
  key
    .command('new')
    .alias('create')
    .description('create a key')
    .option('--name <name>', 'name of the key', 'Unnamed key')
    .option('--expires-in <duration>', 'the key stops working after this long (e.g. 30d)')
    .argument('[name]')
    .action((name: string | undefined, o: { name: string; expiresIn?: string }) =>
      run(async (c) =>
        printKey(await c.call('CreateKey', { body: { name: name ?? o.name, expiration: expiresIn(o.expiresIn) } })),
      ),
    );
  key
    .command('import')
    .description('import an existing key')
    .argument('<key_id>')
    .argument('<secret_key>')
    .option('-n, --name <name>', 'name of the key', 'Imported key')
    .option('--yes', 'confirm')
    .action((id: string, secret: string, o: { name: string }) =>
      run(async (c) =>
        printKey(await c.call('ImportKey', { body: { accessKeyId: id, secretAccessKey: secret, name: o.name } })),
      ),
    );
  key
    .command('rename')
    .description('rename a key')
    .argument('<key>')
    .argument('<new_name>')
    .action((pattern: string, name: string) =>
      run(async (c) => printKey(await c.call('UpdateKey', { id: await keyId(c, pattern), body: { name } }))),
    );
  key
    .command('set')
    .description('change the expiration of a key')
    .argument('<key>')
    .option('--expires-in <duration>', 'the key stops working after this long from now (e.g. 30d)')
    .option('--never-expires', 'the key never expires')
    .action((pattern: string, o: { expiresIn?: string; neverExpires?: boolean }) =>
      run(async (c) => {
        if (!!o.expiresIn === !!o.neverExpires)
          throw new AdminError('give exactly one of --expires-in and --never-expires');
        const body = { expiration: expiresIn(o.expiresIn), neverExpires: o.neverExpires };
        printKey(await c.call('UpdateKey', { id: await keyId(c, pattern), body }));
      }),
    );
  key
    .command('delete')
    .description('delete a key')
    .argument('<key>')
    .option('--yes', 'confirm')
    .action((pattern: string, o: { yes?: boolean }) =>
      run(async (c) => {
        if (!o.yes) throw new AdminError(`add --yes to delete key '${pattern}'`);
        await c.call('DeleteKey', { id: await keyId(c, pattern) });
        out(`Key ${pattern} was deleted.`);
      }),
    );
  key
    .command('delete-expired')
    .description('delete every expired key')
    .option('--yes', 'confirm')
    .action((o: { yes?: boolean }) =>
      run(async (c) => {
        const expired = (await c.call('ListKeys', {})).filter((k) => k.expired);
        if (!o.yes) throw new AdminError(`add --yes to delete ${expired.length} expired key(s)`);
        for (const k of expired) await c.call('DeleteKey', { id: k.id });
        out(`${expired.length} expired key(s) deleted.`);
      }),
    );
  for (const verb of ['allow', 'deny'] as const) {
    key
      .command(verb)
      .description(`${verb} key-wide permissions`)
      .argument('<key>')
      .option('--create-bucket', 'permission to create buckets')
      .action((pattern: string, o: { createBucket?: boolean }) =>
        run(async (c) => {
          if (!o.createBucket) throw new AdminError('say which permission: --create-bucket');
          const body = { [verb]: { createBucket: true } };
          printKey(await c.call('UpdateKey', { id: await keyId(c, pattern), body }));
        }),
      );
  }

  const token = program.command('admin-token').description('admin API tokens');
  const tokenId = async (c: Parameters<Parameters<Runner>[0]>[0], s: string) => {
    const t = await c.call('GetAdminTokenInfo', { search: s });
    if (!t.id) throw new AdminError(`'${s}' is a token of the configuration`);
    return t.id;
  };
  token
    .command('list')
    .description('list admin tokens')
    .option('--json', 'print as JSON')
    .action((o: { json?: boolean }) =>
      run(async (c) => {
        const list = await c.call('ListAdminTokens', {});
        if (o.json) return json(list);
        out(
          table([
            ['ID', 'Name', 'Created', 'Expiration', 'Scope'],
            ...list.map((t) => [
              t.id ?? '-',
              t.name,
              t.created?.slice(0, 10) ?? '-',
              t.expired ? 'EXPIRED' : (t.expiration ?? 'never'),
              t.scope.join(','),
            ]),
          ]),
        );
      }),
    );
  token
    .command('info')
    .description('show an admin token')
    .argument('<token>', 'id, id prefix or name')
    .action((s: string) => run(async (c) => printToken(await c.call('GetAdminTokenInfo', { search: s }))));
  token
    .command('create')
    .description('create an admin token (its secret is shown once)')
    .argument('[name]')
    .option('--scope <ops>', 'comma-separated operation names, or * (default)', '*')
    .option('--expires-in <duration>', 'the token stops working after this long (e.g. 30d)')
    .option('--never-expires', 'the token never expires (the default)')
    .option('-q, --quiet', 'print only the secret token')
    .action(
      (name: string | undefined, o: { scope: string; expiresIn?: string; neverExpires?: boolean; quiet?: boolean }) =>
        run(async (c) => {
          const t = await c.call('CreateAdminToken', {
            body: {
              name,
              scope: o.scope.split(',').map((x) => x.trim()),
              expiration: expiresIn(o.expiresIn),
              neverExpires: o.neverExpires,
            },
          });
          if (o.quiet) out(t.secretToken);
          else printToken(t);
        }),
    );
  token
    .command('rename')
    .description('rename an admin token')
    .argument('<token>')
    .argument('<new_name>')
    .action((s: string, name: string) =>
      run(async (c) => printToken(await c.call('UpdateAdminToken', { id: await tokenId(c, s), body: { name } }))),
    );
  token
    .command('set')
    .description('change the scope or expiration of an admin token')
    .argument('<token>')
    .option('--scope <ops>', 'comma-separated operation names, or *')
    .option('--expires-in <duration>', 'stops working after this long from now')
    .option('--never-expires', 'never expires')
    .action((s: string, o: { scope?: string; expiresIn?: string; neverExpires?: boolean }) =>
      run(async (c) => {
        const body = {
          scope: o.scope?.split(',').map((x) => x.trim()),
          expiration: expiresIn(o.expiresIn),
          neverExpires: o.neverExpires,
        };
        printToken(await c.call('UpdateAdminToken', { id: await tokenId(c, s), body }));
      }),
    );
  token
    .command('delete')
    .description('delete an admin token')
    .argument('<token>')
    .option('--yes', 'confirm')
    .action((s: string, o: { yes?: boolean }) =>
      run(async (c) => {
        if (!o.yes) throw new AdminError(`add --yes to delete admin token '${s}'`);
        await c.call('DeleteAdminToken', { id: await tokenId(c, s) });
        out(`Admin token ${s} was deleted.`);
      }),
    );
  token
    .command('delete-expired')
    .description('delete every expired admin token')
    .option('--yes', 'confirm')
    .action((o: { yes?: boolean }) =>
      run(async (c) => {
        const expired = (await c.call('ListAdminTokens', {})).filter((t) => t.expired && t.id);
        if (!o.yes) throw new AdminError(`add --yes to delete ${expired.length} expired admin token(s)`);
        for (const t of expired) await c.call('DeleteAdminToken', { id: t.id! });
        out(`${expired.length} expired admin token(s) deleted.`);
      }),
    );
}

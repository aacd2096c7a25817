// ACLs as this store has them: a bucket's keys are its only grantees, so every bucket and
// object has one grant, FULL_CONTROL to its owner. Tools read that (GetBucketAcl,
// GetObjectAcl) and set `private`; anything that would grant more is refused, never ignored.

import type { IncomingHttpHeaders } from 'node:http';
import { S3Error } from '../common/s3_error.ts';
import { toXml, xmlChild, xmlChildText, xmlChildren } from '../common/xml.ts';
import { checkedVersionId, readVersion } from './versioning.ts';
import { readOptionalXmlBody, sendEmpty, sendXml, type BucketCtx, type ObjectCtx } from './context.ts';

/** Canned ACLs that grant nothing beyond the owner's access. */
const HONOURED = new Set(['private', 'bucket-owner-full-control']);

/** Refuses an `x-amz-acl` or `x-amz-grant-*` header that would grant access we cannot enforce. */
export function refuseGrants(headers: IncomingHttpHeaders): void {
  const acl = headers['x-amz-acl'];
  if (acl !== undefined) checkCannedAcl(String(acl));
  for (const name of Object.keys(headers))
    if (name.startsWith('x-amz-grant-'))
      throw new S3Error('NotImplemented', `${name} is not implemented: only the bucket's keys have access`);
}

/** Refuses a canned ACL other than private / bucket-owner-full-control. */
export function checkCannedAcl(acl: string): void {
  if (!HONOURED.has(acl.trim().toLowerCase()))
    throw new S3Error(
      'NotImplemented',
      `the canned ACL '${acl}' is not implemented: only private and bucket-owner-full-control are (access is granted to keys with garage bucket allow)`,
    );
}

function policy(ctx: BucketCtx): string {
  const owner = { ID: ctx.key.id, DisplayName: ctx.key.name.v };
  return toXml('AccessControlPolicy', {
    Owner: owner,
    AccessControlList: {
      Grant: {
        Grantee: {
          '@xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance',
          '@xsi:type': 'CanonicalUser',
          ...owner,
        },
        Permission: 'FULL_CONTROL',
      },
    },
  });
}

async function objectExists(ctx: ObjectCtx): Promise<void> {
  const entry = await ctx.svc.model.object.get(ctx.bucket.id, Buffer.from(ctx.objectKey));
  readVersion(ctx.bucket, entry, checkedVersionId(ctx.query.get('versionId')));
}

// A policy document is accepted when it grants FULL_CONTROL to the owner and nothing else.
async function acceptPolicy(ctx: BucketCtx): Promise<void> {
  refuseGrants(ctx.req.headers);
  const doc = await readOptionalXmlBody(ctx, 'AccessControlPolicy', { maxBytes: 64 * 1024 });
  if (!doc) return;
  const list = xmlChild(doc, 'AccessControlList');
  for (const g of list ? xmlChildren(list, 'Grant') : []) {
    const grantee = xmlChild(g, 'Grantee');
    const id = grantee ? xmlChildText(grantee, 'ID') : undefined;
    if (xmlChildText(g, 'Permission') !== 'FULL_CONTROL' || id !== ctx.key.id)
      throw new S3Error('NotImplemented', 'grants to anyone but the owner are not implemented');
  }
}

/** GetBucketAcl. */
export function handleGetBucketAcl(ctx: BucketCtx): void {
  sendXml(ctx.res, 200, policy(ctx));
}

/** PutBucketAcl: `private` (header or owner-only document) is accepted; other grants are refused. */
export async function handlePutBucketAcl(ctx: BucketCtx): Promise<void> {
  await acceptPolicy(ctx);
  sendEmpty(ctx.res, 200);
}

/** GetObjectAcl. */
export async function handleGetObjectAcl(ctx: ObjectCtx): Promise<void> {
  await objectExists(ctx);
  sendXml(ctx.res, 200, policy(ctx));
}

/** PutObjectAcl: as PutBucketAcl, on an existing object. */
export async function handlePutObjectAcl(ctx: ObjectCtx): Promise<void> {
  await objectExists(ctx);
  await acceptPolicy(ctx);
  sendEmpty(ctx.res, 200);
}

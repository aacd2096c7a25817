import { checkCannedAcl } from './acl.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { Busboy, type BusboyFileStream } from '@fastify/busboy';
import { authenticatePostPolicy } from '../common/signature/index.ts';
import { S3Error } from '../common/s3_error.ts';
import { toXml } from '../common/xml.ts';
import { checkHeader, metadataToHeader } from '../common/http.ts';
import { keyPerms } from '../../model/key.ts';
import type { S3Services } from './context.ts';
import { writeKind } from '../../model/bucket.ts';
import { versionHeaders } from './versioning.ts';
import { newVersionLock } from './object_lock.ts';
import { keyLookup, refuseManagedSse, sendEmpty, sendXml, STORED_HEADERS } from './context.ts';
import { checkObjectKey, checksumHeaders, putObjectStream } from './put.ts';
import { customerKey, sseHeaders } from './sse_c.ts';
import { taggingField } from './tagging.ts';
import type { BodyChecks } from '../common/signature/index.ts';
import {
  checksumAlgorithmFromHeader,
  createChecksum,
  decodeChecksum,
  encodeChecksum,
  parseChecksumAlgorithm,
} from '../common/checksum.ts';
import { checkQuotas, limitToQuota } from './quotas.ts';

/** Bytes of form before the file part (AWS: MaxPostPreDataLengthExceeded past its limit). */
const FORM_LIMIT = 1024 * 1024;
/** Time for the form fields before the file part to arrive (the request is unauthenticated until then). */
const POST_FORM_TIMEOUT_MS = 30_000;

/** Fields that need no policy condition. */
const EXEMPT = new Set([
  'policy',
  'x-amz-signature',
  'file',
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'bucket',
]);

type Condition = { op: 'eq' | 'starts-with'; field: string; value: string } | { op: 'range'; min: number; max: number };

function parsePolicy(b64: string): { expiration: number; conditions: Condition[] } {
  let doc: { expiration?: unknown; conditions?: unknown };
  try {
    doc = JSON.parse(Buffer.from(b64, 'base64').toString('utf8')) as typeof doc;
  } catch {
    throw new S3Error('InvalidPolicyDocument', 'Invalid Policy: the policy is not base64-encoded JSON');
  }
  const expiration = Date.parse(String(doc.expiration ?? ''));
  if (Number.isNaN(expiration))
    throw new S3Error('InvalidPolicyDocument', 'Invalid Policy: expiration must be an ISO 8601 date');
  if (!Array.isArray(doc.conditions))
    throw new S3Error('InvalidPolicyDocument', 'Invalid Policy: conditions must be a list');
  const conditions: Condition[] = [];
  for (const c of doc.conditions as unknown[]) {
    if (Array.isArray(c)) {
      const [op, a, b] = c as unknown[];
      if (String(op).toLowerCase() === 'content-length-range')
        conditions.push({ op: 'range', min: Number(a), max: Number(b) });
      else if (op === 'eq' || op === 'starts-with')
        conditions.push({ op, field: String(a).replace(/^\$/, '').toLowerCase(), value: String(b) });
      else throw new S3Error('InvalidPolicyDocument', `Invalid Policy: unknown condition '${String(op)}'`);
    } else if (c && typeof c === 'object') {
      for (const [k, v] of Object.entries(c)) conditions.push({ op: 'eq', field: k.toLowerCase(), value: String(v) });
    } else throw new S3Error('InvalidPolicyDocument', 'Invalid Policy: a condition is neither a list nor an object');
  }
  return { expiration, conditions };
}

/** Counts bytes and enforces the policy's content-length-range. */
function lengthGuard(min: number, max: number): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      if (n > max)
        cb(new S3Error('EntityTooLarge', `Your proposed upload exceeds the maximum allowed size (${max} bytes)`));
      else cb(null, chunk);
    },
    flush(cb) {
      cb(
        n < min
          ? new S3Error(
              'EntityTooSmall',
              `Your proposed upload is smaller than the minimum allowed size (${min} bytes)`,
            )
          : null,
      );
    },
  });
}

/**
 * A form's x-amz-checksum-<alg> field: the file is hashed as it passes, and `done` resolves with
 * the checksum (to be stored) or rejects with BadDigest before the object is completed.
 */
function formChecksum(fields: Map<string, string>): { pass: Transform; done: Promise<BodyChecks> } | undefined {
  const given = [...fields.entries()].flatMap(([k, v]) => {
    const alg = checksumAlgorithmFromHeader(k);
    return alg ? [{ alg, v }] : [];
  });
  if (given.length === 0) return undefined;
  if (given.length > 1)
    throw new S3Error(
      'InvalidRequest',
      'Expecting a single x-amz-checksum- field. Multiple checksum Types are not allowed.',
    );
  const { alg, v } = given[0]!;
  const declared = fields.get('x-amz-checksum-algorithm');
  if (declared !== undefined && parseChecksumAlgorithm(declared) !== alg)
    throw new S3Error(
      'InvalidRequest',
      'x-amz-checksum-algorithm does not name the algorithm of the x-amz-checksum- field.',
    );
  const expected = decodeChecksum(alg, v);
  if (!expected) throw new S3Error('InvalidRequest', `Value for x-amz-checksum-${alg.toLowerCase()} is invalid.`);
  const h = createChecksum(alg);
  let size = 0;
  let settle: (r: BodyChecks | S3Error) => void = () => undefined;
  const done = new Promise<BodyChecks>((resolve, reject) => {
    settle = (r) => (r instanceof S3Error ? reject(r) : resolve(r));
  });
  done.catch(() => undefined);
  const pass = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      const d = h.digest();
      if (!d.equals(expected)) {
        const e = new S3Error('BadDigest', `The ${alg} you specified did not match the calculated checksum.`);
        settle(e);
        cb(e);
        return;
      }
      settle({ size, checksum: { algorithm: alg, value: encodeChecksum(d) } });
      cb();
    },
  });
  return { pass, done };
}

/** PostObject: a browser form upload authorized by a signed policy (no Authorization header). */
export async function handlePostObject(
  svc: S3Services,
  req: IncomingMessage,
  res: ServerResponse,
  bucketName: string,
): Promise<void> {
  const ct = req.headers['content-type'] ?? '';
  if (!ct.toLowerCase().startsWith('multipart/form-data'))
    throw new S3Error('InvalidRequest', 'POST object needs a multipart/form-data body');
  const fields = new Map<string, string>();
  const file = await readFormFields(req, ct, fields, svc.postFormTimeoutMs ?? POST_FORM_TIMEOUT_MS);
  try {
    return await authorizeAndStore(svc, req, res, bucketName, fields, file);
  } catch (e) {
    // The rest of the body is the server's to drain or refuse, not busboy's.
    file.stop();
    throw e;
  }
}

/** Whatever the form sent: its fields before the file, and the file part, paused until `resume`. */
interface FormFile {
  stream: BusboyFileStream;
  filename: string;
  /** Lets the file part flow (once the request is authorized). */
  resume: () => void;
  /** Stops feeding the form parser. */
  stop: () => void;
}

/**
 * Reads the form fields up to the file part, within `timeoutMs` and FORM_LIMIT bytes, and pauses
 * there: the policy is checked before a byte of the file is consumed.
 */
function readFormFields(
  req: IncomingMessage,
  ct: string,
  fields: Map<string, string>,
  timeoutMs: number,
): Promise<FormFile> {
  return new Promise<FormFile>((resolve, reject) => {
    let seen = 0;
    let inFile = false;
    const bb = Busboy({
      headers: { ...req.headers, 'content-type': ct },
      limits: { fields: 100, fieldSize: 64 * 1024, files: 1 },
    });
    // Counts what comes before the file part; bounded so the unauthenticated part of a request is too.
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        seen += chunk.length;
        if (!inFile && seen > FORM_LIMIT)
          cb(
            new S3Error(
              'MaxPostPreDataLengthExceeded',
              `Your POST request fields preceding the upload file were too large (at most ${FORM_LIMIT} bytes)`,
            ),
          );
        else cb(null, chunk);
      },
    });
    const stop = () => {
      clearTimeout(timer);
      req.unpipe(counter);
    };
    const fail = (e: S3Error) => {
      stop();
      reject(e);
    };
    const timer = setTimeout(
      () =>
        fail(new S3Error('RequestTimeout', `The form fields before the file did not arrive within ${timeoutMs} ms`)),
      timeoutMs,
    );
    counter.on('error', (e) => fail(e instanceof S3Error ? e : new S3Error('MalformedPOSTRequest', String(e))));
    bb.on('field', (name, value, _nameTruncated, valueTruncated) => {
      // Fields after the file are not read (S3 ignores them too).
      if (inFile) return;
      if (valueTruncated)
        fail(
          new S3Error('MaxPostPreDataLengthExceeded', `The form field '${name.slice(0, 100)}' is longer than 64 KiB`),
        );
      else fields.set(name.toLowerCase(), value);
    });
    bb.on('fieldsLimit', () =>
      fail(new S3Error('MaxPostPreDataLengthExceeded', 'Your POST request has more than 100 form fields')),
    );
    bb.on('file', (name, stream, filename) => {
      if (inFile || name.toLowerCase() !== 'file') {
        stream.resume();
        return;
      }
      inFile = true;
      stop();
      // A request that ends early (hang-up, idle timeout) must fail the upload, not leave it waiting.
      const onClose = () => {
        if (!req.complete) stream.destroy(new S3Error('IncompleteBody', 'The request body ended prematurely.'));
      };
      req.once('close', onClose);
      bb.on('error', (e) =>
        stream.destroy(
          new S3Error(
            'MalformedPOSTRequest',
            `The body of your POST request is not well-formed multipart/form-data: ${(e as Error).message}`,
          ),
        ),
      );
      resolve({ stream, filename, resume: () => req.pipe(counter), stop: () => req.unpipe(counter) });
    });
    bb.on('error', (e) =>
      fail(
        new S3Error(
          'MalformedPOSTRequest',
          `The body of your POST request is not well-formed multipart/form-data: ${(e as Error).message}`,
        ),
      ),
    );
    bb.on('finish', () =>
      fail(
        new S3Error('InvalidArgument', 'POST requires exactly one file upload per request (a field named file, last)'),
      ),
    );
    req.pipe(counter).pipe(bb);
  });
}

/** Checks the signed policy and stores the file part. */
async function authorizeAndStore(
  svc: S3Services,
  req: IncomingMessage,
  res: ServerResponse,
  bucketName: string,
  fields: Map<string, string>,
  file: FormFile,
): Promise<void> {
  const field = (k: string) => fields.get(k);
  for (const k of ['policy', 'x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-signature', 'key']) {
    if (field(k) === undefined)
      throw new S3Error('InvalidArgument', `Bucket POST must contain a field named '${k}'`, { ArgumentName: k });
  }
  const keys = keyLookup(svc);
  await authenticatePostPolicy(
    {
      policy: field('policy')!,
      algorithm: field('x-amz-algorithm')!,
      credential: field('x-amz-credential')!,
      date: field('x-amz-date')!,
      signature: field('x-amz-signature')!,
    },
    { region: svc.region, lookup: keys.lookup },
  );
  const accessKey = keys.found();
  const bucketId = await svc.helpers.resolveBucket(bucketName, accessKey);
  const bucket = bucketId ? await svc.helpers.getBucket(bucketId) : undefined;
  if (!bucket) throw new S3Error('NoSuchBucket', `bucket '${bucketName}' does not exist`);
  if (!keyPerms(accessKey!, bucket.id.toString('hex')).write)
    throw new S3Error('AccessDenied', `key ${accessKey!.id} has no write permission on bucket '${bucketName}'`);

  refuseManagedSse(fields.keys());
  const lock = newVersionLock((n) => field(n), bucket);
  const sse = customerKey((n) => field(n));
  const taggingXml = field('tagging');
  const tags = taggingXml === undefined ? undefined : taggingField(taggingXml);
  const acl = field('acl');
  if (acl !== undefined) checkCannedAcl(acl);
  const key = field('key')!.replace(/\$\{filename\}/g, file.filename);
  checkObjectKey(key);
  const policy = parsePolicy(field('policy')!);
  if (Date.now() > policy.expiration) throw new S3Error('AccessDenied', 'Invalid according to Policy: Policy expired.');
  const values = new Map(fields);
  values.set('key', key);
  values.set('bucket', bucketName);
  let range = { min: 0, max: Number.MAX_SAFE_INTEGER };
  const covered = new Set<string>();
  for (const c of policy.conditions) {
    if (c.op === 'range') {
      range = { min: c.min, max: c.max };
      continue;
    }
    covered.add(c.field);
    const v = values.get(c.field) ?? '';
    const ok = c.op === 'eq' ? v === c.value : v.startsWith(c.value);
    if (!ok)
      throw new S3Error(
        'AccessDenied',
        `Invalid according to Policy: Policy Condition failed: ["${c.op}", "$${c.field}", "${c.value}"]`,
      );
  }
  for (const k of fields.keys()) {
    // A checksum or SSE-C field only adds a check or encryption: it needs no condition.
    const adds = k.startsWith('x-amz-checksum-') || k.startsWith('x-amz-server-side-encryption-customer-');
    if (!EXEMPT.has(k) && !k.startsWith('x-ignore-') && !adds && !covered.has(k))
      throw new S3Error('AccessDenied', `Invalid according to Policy: Extra input fields: ${k}`);
  }
  const headers: [string, string][] = [];
  for (const [k, v] of fields) {
    if (!STORED_HEADERS.includes(k) && !k.startsWith('x-amz-meta-')) continue;
    // A stored header with CR/LF would break every later GET of the object.
    // Form fields are text: metadata is checked as the header it will be sent as (RFC 2047 when not ASCII).
    checkHeader(`form field ${k}`, k, k.startsWith('x-amz-meta-') ? metadataToHeader(v) : v);
    headers.push([k, v]);
  }
  if (!headers.some(([k]) => k === 'content-type')) headers.push(['content-type', 'binary/octet-stream']);
  headers.sort((a, b) => (a[0] < b[0] ? -1 : 1));

  const redirect = field('success_action_redirect') ?? field('redirect');
  let redirectUrl: URL | undefined;
  if (redirect !== undefined && redirect !== '') {
    try {
      redirectUrl = new URL(redirect);
    } catch {
      throw new S3Error('InvalidArgument', 'success_action_redirect: not an absolute URL', {
        ArgumentName: 'success_action_redirect',
      });
    }
  }

  const status = field('success_action_status');

  const allowed = await checkQuotas(svc, bucket, key, 0);
  const sized: Readable = file.stream.pipe(lengthGuard(range.min, range.max));
  file.stream.on('error', (e) => sized.destroy(e));
  const checksum = formChecksum(fields);
  let checked: Readable = sized;
  if (checksum) {
    checked = sized.pipe(checksum.pass);
    sized.on('error', (e) => checksum.pass.destroy(e));
  }
  const body = limitToQuota(checked, allowed);
  file.resume();
  const versioning = writeKind(bucket);
  const { etag, meta, uuid } = await putObjectStream(
    { model: svc.model, blockSize: svc.blockSize },
    bucket.id,
    key,
    headers,
    body,
    { done: checksum?.done, sse, tags, versioning, lock },
  );
  const sums = {
    ...checksumHeaders(meta.checksum),
    ...sseHeaders(sse),
    ...versionHeaders(bucket, { uuid, versioning }),
  };

  if (redirectUrl) {
    const u = redirectUrl;
    u.searchParams.set('bucket', bucketName);
    u.searchParams.set('key', key);
    u.searchParams.set('etag', `"${etag}"`);
    sendEmpty(res, 303, { location: u.toString(), etag: `"${etag}"`, ...sums });
    return;
  }
  if (status === '201') {
    const host = req.headers.host ?? 'localhost';
    sendXml(
      res,
      201,
      toXml('PostResponse', {
        Location: `http://${host}/${bucketName}/${encodeURIComponent(key)}`,
        Bucket: bucketName,
        Key: key,
        ETag: `"${etag}"`,
      }),
      { etag: `"${etag}"`, ...sums },
    );
  } else sendEmpty(res, status === '200' ? 200 : 204, { etag: `"${etag}"`, ...sums });
}

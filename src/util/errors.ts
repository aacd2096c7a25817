/** Base class for all errors raised by this project; each domain has its own subclass. */
export class GarageError extends Error {
  override name = 'GarageError';
}

/** A configuration file or flag is invalid. */
export class ConfigError extends GarageError {
  override name = 'ConfigError';
}

/** Node-to-node transport failure (connect, handshake, timeout, remote error). */
export class NetError extends GarageError {
  override name = 'NetError';
}

/** A call to another node got no answer in time. */
export class NetTimeoutError extends NetError {
  override name = 'NetTimeoutError';
}

/** Not enough replicas answered to reach a quorum. */
export class QuorumError extends GarageError {
  override name = 'QuorumError';
  readonly ok: number;
  readonly needed: number;
  readonly errors: string[];
  constructor(needed: number, ok: number, errors: string[]) {
    super(
      `quorum not reached: ${ok} of ${needed} needed succeeded${errors.length ? ` (${errors.slice(0, 3).join('; ')})` : ''}`,
    );
    this.needed = needed;
    this.ok = ok;
    this.errors = errors;
  }
}

/** Cluster layout is invalid or cannot be computed. */
export class LayoutError extends GarageError {
  override name = 'LayoutError';
}

/** Block store failure (missing block, corrupt block, I/O). */
export class BlockError extends GarageError {
  override name = 'BlockError';
}

/**
 * A user-facing administrative request failed (unknown bucket, ambiguous id…). `code` and
 * `status` are what the admin HTTP API answers (Garage's error codes).
 */
export class AdminError extends GarageError {
  override name = 'AdminError';
  readonly code: string;
  readonly status: number;
  constructor(message: string, code = 'InvalidRequest', status = 400) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** An administrative request names something that does not exist (404). */
export class AdminNotFoundError extends AdminError {
  override name = 'AdminNotFoundError';
  constructor(
    code:
      | 'NoSuchBucket'
      | 'NoSuchAccessKey'
      | 'NoSuchAdminToken'
      | 'NoSuchNode'
      | 'NoSuchKey'
      | 'NoSuchWorker'
      | 'NoSuchBlock',
    message: string,
  ) {
    super(message, code, 404);
  }
}

/** A bucket cannot be deleted because it still holds visible objects. */
export class BucketNotEmptyError extends AdminError {
  override name = 'BucketNotEmptyError';
  constructor(message: string) {
    super(message, 'BucketNotEmpty', 409);
  }
}

/** Returns the message of any thrown value. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

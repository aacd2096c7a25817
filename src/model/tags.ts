import { z } from 'zod';

/** One tag of an object or bucket: key and value, as the client wrote them. */
export type Tag = [key: string, value: string];

/** The schema of a stored tag set. */
export const zTags: z.ZodType<Tag[]> = z.array(z.tuple([z.string(), z.string()]));

/** Whether a tag set holds every one of `required` (key and value alike), as a lifecycle filter asks. */
export function hasTags(have: readonly Tag[] | undefined, required: readonly Tag[] | undefined): boolean {
  if (!required?.length) return true;
  return required.every(([k, v]) => have?.some(([hk, hv]) => hk === k && hv === v) ?? false);
}

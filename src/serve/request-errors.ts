import type { z } from 'zod';
import { InvalidArgumentError } from '../core/errors.js';

/**
 * Turns a zod failure of a request body or query into a 400 `invalid_argument` that names the field,
 * e.g. `topic: 'partitions' Too big: expected number to be <=1024`. Use it on every `safeParse` of a request.
 */
export function invalidRequest(err: z.ZodError, what: string): InvalidArgumentError {
  const issue = err.issues[0]!;
  return new InvalidArgumentError(`${what}: '${issue.path.join('.') || '(root)'}' ${issue.message}`);
}

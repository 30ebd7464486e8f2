import { z } from 'zod';

/**
 * What an API key may do within its project: `viewer` reads, `member` also submits
 * and cancels, `admin` also manages the project's keys. Admins of the operator
 * project may also create projects.
 */
export const KeyRole = z.enum(['viewer', 'member', 'admin']);
export type KeyRole = z.infer<typeof KeyRole>;

/** Roles in the order of what they allow: each may do all that those before it may. */
export const KEY_ROLES: readonly KeyRole[] = KeyRole.options;

/** True when `role` allows what `needed` allows. */
export function roleAllows(role: KeyRole, needed: KeyRole): boolean {
  return KEY_ROLES.indexOf(role) >= KEY_ROLES.indexOf(needed);
}

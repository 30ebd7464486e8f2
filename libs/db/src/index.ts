export * from './migrate';
export * from './prisma.service';
export * from './transient-errors';
export { Prisma, PrismaClient } from './generated/prisma/client';
export type * from './generated/prisma/models';
export * as DbEnums from './generated/prisma/enums';
export * from './connection-errors';

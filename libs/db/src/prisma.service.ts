import { Injectable } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient, type Prisma } from './generated/prisma/client';

/** The transaction client passed explicitly to repositories inside a transaction. */
export type Tx = Prisma.TransactionClient;

/** Either the root client or a transaction client. */
export type Db = PrismaClient | Tx;

export function createPrismaClient(databaseUrl: string, poolSize = 10): PrismaClient {
  const adapter = new PrismaPg({ connectionString: databaseUrl, max: poolSize });
  return new PrismaClient({ adapter });
}

/** The shared Prisma client of a service (the service kit closes it last on shutdown). */
@Injectable()
export class PrismaService extends PrismaClient {
  constructor(databaseUrl: string, poolSize = 10) {
    super({ adapter: new PrismaPg({ connectionString: databaseUrl, max: poolSize }) });
  }
}

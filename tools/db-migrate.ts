// Applies prisma/migrations to DATABASE_URL (creating the database if needed).
// Compatible with `prisma migrate deploy`, which needs a binary this machine lacks.
import { join } from 'node:path';
import { CommonConfigSchema, loadConfig } from '@drover/config';
import { applyMigrations, ensureDatabase } from '@drover/db';

async function main(): Promise<void> {
  const { DATABASE_URL } = loadConfig(CommonConfigSchema);
  await ensureDatabase(DATABASE_URL);
  const result = await applyMigrations(DATABASE_URL, join(__dirname, '../prisma/migrations'));
  const where = new URL(DATABASE_URL);
  where.password = '';
  console.log(
    `migrations: ${result.applied.length} applied, ${result.alreadyApplied.length} already applied (${where.host}${where.pathname})`,
  );
  for (const name of result.applied) console.log(`  applied ${name}`);
}

main().catch((error: Error) => {
  console.error(`migration failed: ${error.message}`);
  process.exit(1);
});

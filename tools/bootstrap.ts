// Creates a project (if it does not exist) and an admin API key for it, straight in
// Postgres: the way in before any key exists. The key is printed once; only its hash is kept.
//   npm run bootstrap -- [--project <slug>] [--name <project name>] [--key-name <name>] [--json]
import { parseArgs } from 'node:util';
import { CommonConfigSchema, loadConfig } from '@drover/config';
import { CreateProject, validate } from '@drover/contracts';
import { createPrismaClient } from '@drover/db';
import { ApiKeys, Projects } from '@drover/workflow';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      project: { type: 'string', default: 'default' },
      name: { type: 'string' },
      'key-name': { type: 'string', default: 'bootstrap admin' },
      json: { type: 'boolean', default: false },
    },
  });
  const input = validate(CreateProject, {
    slug: values.project,
    name: values.name ?? values.project,
  });
  if (!input.ok) {
    throw new Error(
      input.issues
        .map((i) => `--${i.path === 'slug' ? 'project' : i.path}: ${i.message}`)
        .join('; '),
    );
  }
  const { DATABASE_URL } = loadConfig(CommonConfigSchema);
  const prisma = createPrismaClient(DATABASE_URL, 1);
  try {
    const projects = new Projects(prisma);
    const existing = await projects.bySlug(input.value.slug);
    const { project, key } = existing
      ? {
          project: existing,
          key: await new ApiKeys(prisma).issue({
            projectId: existing.id,
            name: values['key-name'],
            role: 'admin',
          }),
        }
      : await projects.create(input.value, null);
    if (values.json) {
      console.log(JSON.stringify({ project: { id: project.id, slug: project.slug }, key }));
      return;
    }
    console.log(`project ${project.slug} (${project.id})${existing ? '' : ': created'}`);
    console.log(`admin key ${key.id}, shown only now:\n\n  export DROVER_API_KEY=${key.key}\n`);
  } finally {
    await prisma.$disconnect();
  }
}

main().catch((error: Error) => {
  console.error(`bootstrap failed: ${error.message}`);
  process.exit(1);
});

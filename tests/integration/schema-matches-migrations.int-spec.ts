import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { get_dmmf } from '@prisma/prisma-schema-wasm';
import { Client } from 'pg';
import { createTestEnv, type TestEnv } from '@drover/testing';

const SCHEMA_FILE = join(__dirname, '../../prisma/schema.prisma');

/** A database's structure: per kind of object, one sorted line per object. */
const KINDS = ['table', 'column', 'index', 'foreign key', 'enum', 'other object'] as const;
type Kind = (typeof KINDS)[number];
type Shape = Record<Kind, string[]>;

/** The part of Prisma's DMMF (the parsed schema) this check reads. */
interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: string;
  type: string;
  isRequired: boolean;
  isList: boolean;
  default?: { name: string; args: unknown[] } | string | number | boolean | unknown[] | null;
  nativeType?: [string, string[]] | null;
  relationFromFields?: string[];
  relationToFields?: string[];
  relationOnDelete?: string;
  relationOnUpdate?: string;
}
type DmmfModel = { name: string; dbName: string | null; fields: DmmfField[] };
type DmmfEnumValue = { name: string; dbName?: string | null };
type DmmfEnum = DmmfEnumValue & { values: DmmfEnumValue[] };
type DmmfIndex = {
  model: string;
  type: string;
  dbName?: string;
  algorithm?: string;
  fields: DmmfKey[];
};
type DmmfKey = { name: string; sortOrder?: string };
type Datamodel = { models: DmmfModel[]; enums: DmmfEnum[]; indexes: DmmfIndex[] };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function readDatamodel(schema: string): Datamodel {
  const dmmf: unknown = JSON.parse(get_dmmf(JSON.stringify({ prismaSchema: schema })));
  const dm = isRecord(dmmf) ? dmmf.datamodel : undefined;
  if (!isRecord(dm) || ![dm.models, dm.enums, dm.indexes].every(Array.isArray)) {
    throw new Error('get_dmmf returned no datamodel with models, enums and indexes');
  }
  return dm as unknown as Datamodel;
}

function find<T>(map: Map<string, T>, name: string): T {
  const found = map.get(name);
  if (found === undefined) throw new Error(`${name} is not in the datamodel`);
  return found;
}

/** Prisma's default constraint name: the parts joined, cut to fit Postgres' 63, then the suffix. */
function prismaName(parts: string[], suffix: string): string {
  return parts.join('_').slice(0, 63 - suffix.length) + suffix;
}

/** Postgres type (as `format_type` prints it) per Prisma type and `@db` native type. */
const SCALAR_TYPES: Record<string, string> = {
  String: 'text',
  'String@Uuid': 'uuid',
  Int: 'integer',
  Float: 'double precision',
  BigInt: 'bigint',
  Boolean: 'boolean',
  Json: 'jsonb',
  'DateTime@Timestamptz': 'timestamp(?) with time zone',
};

function columnType(field: DmmfField, enumName: (name: string) => string): string {
  if (field.isList) return `${columnType({ ...field, isList: false }, enumName)}[]`;
  if (field.kind === 'enum') return `enum ${enumName(field.type)}`;
  const [native, args] = field.nativeType ?? [undefined, []];
  const type = SCALAR_TYPES[native ? `${field.type}@${native}` : field.type];
  if (!type) throw new Error(`${field.name}: no Postgres type known for ${field.type} ${native}`);
  return type.replace('(?)', args.length ? `(${args.join(',')})` : '');
}

/** The column default the migration must create, written as `normalizeDefault` prints it. */
function expectedDefault(field: DmmfField, enumLabel: (value: string) => string): string | null {
  const value = field.default;
  if (value === undefined || value === null) return null;
  if (Array.isArray(value)) {
    if (value.length) throw new Error(`${field.name}: only empty list defaults are handled`);
    return 'ARRAY[]';
  }
  if (typeof value === 'object') {
    if (value.name === 'now') return 'CURRENT_TIMESTAMP';
    if (value.name === 'autoincrement') return 'nextval()';
    if (value.name === 'dbgenerated') return String(value.args[0]);
    if (['uuid', 'cuid', 'nanoid', 'ulid'].includes(value.name)) return null; // client-side
    throw new Error(`${field.name}: default ${value.name}() is not handled`);
  }
  if (typeof value !== 'string') return String(value);
  return `'${(field.kind === 'enum' ? enumLabel(value) : value).replace(/'/g, "''")}'`;
}

/** A default read from Postgres, minus the sequence name and the cast to the column's type. */
function normalizeDefault(expr: string): string {
  if (/^nextval\(/.test(expr)) return 'nextval()';
  if (expr === 'now()') return 'CURRENT_TIMESTAMP';
  if (/^(?:ARRAY\[\]|'\{\}')::[\w\s"]+\[\]$/.test(expr)) return 'ARRAY[]';
  return /^('(?:[^']|'')*')::[\w\s".()]+$/.exec(expr)?.[1] ?? expr;
}

function withDefault(column: string, def: string | null): string {
  return def === null ? column : `${column} DEFAULT ${def}`;
}

function emptyShape(): Shape {
  return { table: [], column: [], index: [], 'foreign key': [], enum: [], 'other object': [] };
}

/** A relation's referential actions, Prisma's defaults included, in SQL words. */
function fkActions(field: DmmfField): string {
  const words = (action: string): string => action.replace(/(?<=.)([A-Z])/g, ' $1').toUpperCase();
  const onDelete = field.relationOnDelete ?? (field.isRequired ? 'Restrict' : 'SetNull');
  return `ON DELETE ${words(onDelete)} ON UPDATE ${words(field.relationOnUpdate ?? 'Cascade')}`;
}

const INDEX_KINDS: Record<string, [string, string]> = {
  id: ['PRIMARY KEY', '_pkey'],
  unique: ['UNIQUE', '_key'],
  normal: ['INDEX', '_idx'],
};

/** The database schema.prisma describes, after @@map/@map renames and Prisma's defaults. */
function expectedShape(dm: Datamodel): Shape {
  const models = new Map(dm.models.map((m) => [m.name, m]));
  const enums = new Map(dm.enums.map((e) => [e.name, e]));
  const table = (m: DmmfModel): string => m.dbName ?? m.name;
  const column = (m: DmmfModel, field: string): string => {
    const f = m.fields.find((x) => x.name === field);
    if (!f) throw new Error(`${m.name}.${field} is not in the datamodel`);
    return f.dbName ?? f.name;
  };
  const enumName = (name: string): string => find(enums, name).dbName ?? name;
  const label = (v: DmmfEnumValue): string => v.dbName ?? v.name;
  const shape = emptyShape();
  for (const e of dm.enums) {
    shape.enum.push(`${enumName(e.name)}: ${e.values.map(label).join(', ')}`);
  }
  for (const m of dm.models) {
    shape.table.push(table(m));
    for (const f of m.fields.filter((x) => x.kind === 'scalar' || x.kind === 'enum')) {
      const enumLabel = (v: string): string =>
        label(find(enums, f.type).values.find((x) => x.name === v) ?? { name: v });
      const line = `${table(m)}.${column(m, f.name)} ${columnType(f, enumName)}`;
      const notNull = f.isRequired ? ' NOT NULL' : '';
      shape.column.push(withDefault(line + notNull, expectedDefault(f, enumLabel)));
    }
    for (const f of m.fields.filter((x) => x.kind === 'object' && x.relationFromFields?.length)) {
      const target = find(models, f.type);
      const from = (f.relationFromFields ?? []).map((n) => column(m, n)).join(', ');
      const to = (f.relationToFields ?? []).map((n) => column(target, n)).join(', ');
      const fk = `${table(m)} (${from}) -> ${table(target)} (${to}) ${fkActions(f)}`;
      shape['foreign key'].push(fk);
    }
  }
  for (const ix of dm.indexes) {
    const m = find(models, ix.model);
    const [kind, suffix] = INDEX_KINDS[ix.type] ?? [];
    if (!kind || !suffix) throw new Error(`${ix.model}: ${ix.type} indexes are not handled`);
    const cols = ix.fields.map((f) => column(m, f.name));
    const name =
      ix.dbName ?? prismaName(ix.type === 'id' ? [table(m)] : [table(m), ...cols], suffix);
    const keys = ix.fields.map((f, i) => `${cols[i]}${f.sortOrder === 'desc' ? ' DESC' : ''}`);
    const using =
      ix.algorithm && ix.algorithm !== 'BTree' ? ` USING ${ix.algorithm.toLowerCase()}` : '';
    shape.index.push(`${table(m)} ${kind} ${name} (${keys.join(', ')})${using}`);
  }
  return shape;
}

const SCHEMA_OID = '(SELECT oid FROM pg_namespace WHERE nspname = current_schema())';

/** SQL: relation `c` is in the current schema and is not Prisma's bookkeeping table. */
function ownSql(c: string): string {
  return `${c}.relnamespace = ${SCHEMA_OID} AND ${c}.relname <> '_prisma_migrations'`;
}

/** SQL: a foreign key's referential action code as the words of `ON DELETE ...`. */
function actionSql(code: string): string {
  return `CASE ${code} WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
    WHEN 'n' THEN 'SET NULL' ELSE 'SET DEFAULT' END`;
}

/** SQL: the column names of attribute numbers `keys` of relation `rel`, as `(a, b)`. */
function keyNamesSql(keys: string, rel: string): string {
  return `'(' || (SELECT string_agg(a.attname, ', ' ORDER BY k.i)
    FROM unnest(${keys}) WITH ORDINALITY k(n, i)
    JOIN pg_attribute a ON a.attrelid = ${rel} AND a.attnum = k.n) || ')'`;
}

/** Introspection queries returning one `line` per object, in the format `expectedShape` writes. */
const LINE_QUERIES: Record<Exclude<Kind, 'column'>, string> = {
  table: `SELECT c.relname AS line FROM pg_class c
    WHERE c.relkind IN ('r', 'p') AND ${ownSql('c')}`,
  index: `SELECT c.relname || ' ' || CASE WHEN x.indisprimary THEN 'PRIMARY KEY'
      WHEN x.indisunique THEN 'UNIQUE' ELSE 'INDEX' END || ' ' || i.relname || ' (' ||
    (SELECT string_agg(COALESCE(a.attname, pg_get_indexdef(x.indexrelid, k, true)) ||
        CASE WHEN x.indoption[k - 1] & 1 = 1 THEN ' DESC' ELSE '' END, ', ' ORDER BY k)
      FROM generate_series(1, x.indnkeyatts) k
      LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[k - 1])
    || ')' ||
    CASE WHEN am.amname <> 'btree' THEN ' USING ' || am.amname ELSE '' END ||
    COALESCE(' WHERE ' || pg_get_expr(x.indpred, x.indrelid), '') AS line
    FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_am am ON am.oid = i.relam WHERE ${ownSql('c')}`,
  'foreign key': `SELECT c.relname || ' ' || ${keyNamesSql('f.conkey', 'f.conrelid')} || ' -> ' ||
    r.relname || ' ' || ${keyNamesSql('f.confkey', 'f.confrelid')} || ' ON DELETE ' ||
    ${actionSql('f.confdeltype')} || ' ON UPDATE ' || ${actionSql('f.confupdtype')} AS line
    FROM pg_constraint f JOIN pg_class c ON c.oid = f.conrelid
    JOIN pg_class r ON r.oid = f.confrelid
    WHERE f.contype = 'f' AND ${ownSql('c')}`,
  enum: `SELECT t.typname || ': ' || string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder) AS line
    FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
    WHERE t.typnamespace = ${SCHEMA_OID} GROUP BY t.typname`,
  // Nothing in schema.prisma maps to these; any found is a difference.
  'other object': `SELECT 'constraint ' || c.relname || '.' || o.conname || ' ' ||
      pg_get_constraintdef(o.oid) AS line FROM pg_constraint o JOIN pg_class c ON c.oid = o.conrelid
      WHERE o.contype NOT IN ('p', 'u', 'f', 'n') AND ${ownSql('c')}
    UNION ALL SELECT 'trigger ' || c.relname || '.' || t.tgname FROM pg_trigger t
      JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal AND ${ownSql('c')}
    UNION ALL SELECT 'view ' || c.relname FROM pg_class c
      WHERE c.relkind IN ('v', 'm') AND ${ownSql('c')}`,
};
const COLUMNS_QUERY = `SELECT c.relname || '.' || a.attname || ' ' ||
    CASE WHEN t.typtype = 'e' THEN 'enum ' || t.typname
      WHEN et.typtype = 'e' THEN 'enum ' || et.typname || '[]'
      ELSE format_type(a.atttypid, a.atttypmod) END ||
    CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END AS line,
    pg_get_expr(d.adbin, d.adrelid) AS default
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped AND ${ownSql('c')}`;

/** A text column of a catalog query's row. */
function text(row: Record<string, unknown>, key: string): string {
  const value = row[key];
  if (typeof value !== 'string') throw new Error(`expected text in ${key}, got ${String(value)}`);
  return value;
}

/** The database's structure as the catalog reports it. */
async function actualShape(client: Client): Promise<Shape> {
  const query = async (sql: string) => (await client.query<Record<string, unknown>>(sql)).rows;
  const shape = emptyShape();
  for (const [kind, sql] of Object.entries(LINE_QUERIES) as [Kind, string][]) {
    shape[kind] = (await query(sql)).map((row) => text(row, 'line'));
  }
  shape.column = (await query(COLUMNS_QUERY)).map((row) => {
    const def = row.default === null ? null : normalizeDefault(text(row, 'default'));
    return withDefault(text(row, 'line'), def);
  });
  return shape;
}

/** Every line one shape has and the other lacks; empty when the two agree. */
function compareShapes(expected: Shape, actual: Shape): string[] {
  const lacking = (a: string[], b: string[]): string[] => a.filter((x) => !b.includes(x)).sort();
  return KINDS.flatMap((kind) => [
    ...lacking(expected[kind], actual[kind]).map((x) => `missing in database: ${kind} ${x}`),
    ...lacking(actual[kind], expected[kind]).map((x) => `not in schema.prisma: ${kind} ${x}`),
  ]);
}

describe('schema.prisma and migrations', () => {
  const expected = expectedShape(readDatamodel(readFileSync(SCHEMA_FILE, 'utf8')));
  let env: TestEnv;
  let client: Client;

  beforeAll(async () => {
    env = await createTestEnv();
    client = new Client({ connectionString: env.databaseUrl });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
    await env?.destroy();
  });

  it('migrations build exactly the tables, columns, indexes, keys and enums declared', async () => {
    expect(compareShapes(expected, await actualShape(client))).toEqual([]);
  });

  it('reports a column the schema lacks and an index the migrations did not create', async () => {
    await client.query('BEGIN');
    try {
      await client.query('ALTER TABLE "task" ADD COLUMN "extra" integer');
      await client.query('DROP INDEX "run_runner_id_idx"');
      expect(compareShapes(expected, await actualShape(client))).toEqual([
        'not in schema.prisma: column task.extra integer',
        'missing in database: index run INDEX run_runner_id_idx (runner_id)',
      ]);
    } finally {
      await client.query('ROLLBACK');
    }
  });
});

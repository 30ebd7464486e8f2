/**
 * Why `error` means Postgres cannot be used right now (down, restarting,
 * refusing or dropping connections, out of connections), or undefined for any
 * other error. Prisma reports these as its P1xxx codes, as a driver adapter
 * error of a connection kind, or (when pg gives up before a query) in the
 * message only; the cause chain is searched too.
 */
export function databaseUnavailable(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
    const reason = ownReason(e);
    if (reason) return reason;
    e = (e as Inspected).cause;
  }
  return undefined;
}

interface Inspected {
  code?: unknown;
  message?: unknown;
  cause?: unknown;
  meta?: { driverAdapterError?: { cause?: { kind?: unknown; code?: unknown } } };
}

// Prisma: can't reach, timed out, operations timed out, closed the connection, pool timeout.
const PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);
// @prisma/adapter-pg's kinds for a connection that failed or was lost.
const ADAPTER_KINDS = new Set([
  'DatabaseNotReachable',
  'ConnectionClosed',
  'SocketTimeout',
  'TooManyConnections',
]);
// Postgres: connection exceptions (08), shutting down or starting up (57P01-3), too many connections.
const SQLSTATES = /^(08...|57P0[123]|53300)$/;
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE']);
// pg's own messages when a connection ends or the pool cannot open one in time.
const PG_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Can't reach database server|Client has encountered a connection error/i;

function ownReason(e: Inspected): string | undefined {
  const message = typeof e.message === 'string' ? e.message : '';
  const adapter = e.meta?.driverAdapterError?.cause;
  const code = typeof e.code === 'string' ? e.code : '';
  if (PRISMA_CODES.has(code) || SOCKET_CODES.has(code) || SQLSTATES.test(code))
    return lastLine(message) || code;
  if (typeof adapter?.kind === 'string' && ADAPTER_KINDS.has(adapter.kind)) return adapter.kind;
  if (
    adapter?.kind === 'postgres' &&
    typeof adapter.code === 'string' &&
    SQLSTATES.test(adapter.code)
  )
    return `SQLSTATE ${adapter.code}`;
  return PG_MESSAGES.test(message) ? lastLine(message) : undefined;
}

/** Prisma's messages open with the call site; the last line says what happened. */
function lastLine(message: string): string {
  return message.trim().split('\n').at(-1)?.trim() ?? '';
}

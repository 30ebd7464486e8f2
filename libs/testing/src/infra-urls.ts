import { Socket } from 'node:net';

/** Where the tests find Postgres, NATS and Redis. */
export interface InfraUrls {
  databaseUrl: string;
  natsUrl: string;
  redisUrl: string;
}

export const DEFAULT_URLS: InfraUrls = {
  databaseUrl: 'postgresql://postgres@127.0.0.1:5432/postgres',
  natsUrl: 'nats://127.0.0.1:4222',
  redisUrl: 'redis://127.0.0.1:6379',
};

/** True when something accepts TCP connections at the URL's host and port. */
export function answers(url: string, defaultPort: number, timeoutMs = 1000): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(Number(port || defaultPort), hostname.replace(/^\[|\]$/g, ''), () => done(true));
  });
}

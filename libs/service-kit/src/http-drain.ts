import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** How often a draining server closes the connections that went idle. */
const IDLE_SWEEP_MS = 100;

/** Closes an HTTP server within a bounded time (see `drainableServer`). */
export interface HttpDrain {
  /**
   * Stops accepting connections, lets requests in flight finish for up to
   * `graceMs` (closing each connection once it is idle, and at once those that
   * never sent a byte), then destroys the ones still open: slow or stalled
   * clients, upgraded sockets that did not close. Resolves with the number of
   * connections destroyed at the end of the grace.
   */
  drain(graceMs: number): Promise<number>;
}

/**
 * Tracks every connection of `server` (call it before it listens): Node's own
 * `server.close()` waits for all of them, so a client that never finishes its
 * request (slow headers, a stalled body, a WebSocket that ignores the close
 * handshake) would hold the process forever.
 */
export function drainableServer(server: Server): HttpDrain {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return {
    async drain(graceMs) {
      // Errors only when it was not listening: nothing to stop accepting then.
      server.close(() => undefined);
      const deadline = Date.now() + graceMs;
      while (sockets.size && Date.now() < deadline) {
        server.closeIdleConnections();
        // Connections that never sent a byte (a browser's spare, preconnected ones) hold
        // no request, yet Node counts them as busy, not idle: they would last the grace.
        for (const socket of sockets) if (socket.bytesRead === 0) socket.destroy();
        await new Promise((r) => setTimeout(r, Math.min(IDLE_SWEEP_MS, deadline - Date.now())));
      }
      const left = sockets.size;
      for (const socket of sockets) socket.destroy();
      return left;
    },
  };
}

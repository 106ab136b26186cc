// Limits on the connections a device's HTTP server keeps, so that slow or numerous clients cannot
// starve the others (a client that sends its headers a byte at a time, a thousand idle sockets).
//
// Headers must arrive within headersTimeoutMs and a whole request within requestTimeoutMs (Node
// checks every connectionsCheckingIntervalMs); an idle keep-alive connection closes after
// keepAliveTimeoutMs. One client address holds at most connectionsPerClientMax connections at
// once: one more is closed as soon as it opens. Rate limits per address and per account key are
// a separate layer (devices/rateLimits.ts).

import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export const headersTimeoutMs = 10_000;
export const requestTimeoutMs = 30_000;
export const keepAliveTimeoutMs = 5_000;
export const connectionsCheckingIntervalMs = 1_000;
export const connectionsPerClientMax = 64;

/** The options of node:http and node:https createServer that bound every connection's time. */
export const connectionTimeouts = {
  headersTimeout: headersTimeoutMs,
  requestTimeout: requestTimeoutMs,
  keepAliveTimeout: keepAliveTimeoutMs,
  connectionsCheckingInterval: connectionsCheckingIntervalMs,
} as const;

/** Close every connection from an address that already holds connectionsPerClientMax. */
export function capConnectionsPerClient(server: Server, perClientMax = connectionsPerClientMax) {
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const count = open.get(address) ?? 0;
    if (count >= perClientMax) {
      socket.destroy();
      return;
    }
    open.set(address, count + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
  });
  return server;
}

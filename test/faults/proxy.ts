// A TCP proxy for the fault test: sits between `transaction` and `account` or `currency` and, while
// its faults are on, refuses connections (drop), delays every chunk (delay) and cuts connections
// in the middle of an answer (cut). Real sockets: the devices see real resets and timeouts.
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface ProxyFaults {
  /** Per new connection, out of 1000: closed at once. */
  dropPerMille: number;
  /** Per new connection, out of 1000: cut after the first chunk of the answer. */
  cutPerMille: number;
  /** Each chunk is held up to this long. */
  delayMsMax: number;
}

export const noFaults: ProxyFaults = { dropPerMille: 0, cutPerMille: 0, delayMsMax: 0 };

export class FaultProxy {
  faults: ProxyFaults = noFaults;
  /** Connections dropped or cut so far. */
  injected = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor(
    readonly listenPort: number,
    readonly targetPort: number,
    private readonly random: () => number = Math.random,
  ) {
    this.#server = createServer((client) => this.#connection(client));
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.#server.listen(this.listenPort, '127.0.0.1', resolve));
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #connection(client: Socket): void {
    const { dropPerMille, cutPerMille, delayMsMax } = this.faults;
    this.#track(client);
    if (this.random() * 1000 < dropPerMille) {
      this.injected += 1;
      client.destroy();
      return;
    }
    const cut = this.random() * 1000 < cutPerMille;
    const upstream = connect(this.targetPort, '127.0.0.1');
    this.#track(upstream);
    const pipe = (from: Socket, to: Socket, cutAfterFirst: boolean) =>
      from.on('data', (chunk) => {
        from.pause();
        const forward = () => {
          if (to.destroyed) return;
          to.write(chunk);
          if (cutAfterFirst) {
            this.injected += 1;
            client.destroy();
            upstream.destroy();
            return;
          }
          from.resume();
        };
        if (delayMsMax > 0) setTimeout(forward, Math.floor(this.random() * delayMsMax));
        else forward();
      });
    pipe(client, upstream, false);
    pipe(upstream, client, cut);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
  }
}

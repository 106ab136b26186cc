// A damaged store set aside at a recovery's request (issue 18), so that `triledger recover` (and the
// console's Recover) rebuilds a fenced device without an operator stopping it by hand.
//
// The transaction device, recovering, asks each peer fenced on a damaged store to set it aside
// (POST /internal/v1/store/set-aside, the transaction device's key; refused when the store is not
// damaged). The peer answers, stops serving, closes its store, sets it aside exactly as `triledger
// set-aside` does (renamed, never deleted: store/setAside.ts) and exits with exitCodes.restart;
// its supervisor (`triledger up`, or systemd) starts it again, on a new, empty store, which the
// recovery then rebuilds from the other two devices.

import { fail } from '../model/errors.js';
import { by } from './access.js';
import { type HttpServer, type StoreFence, sendFailure, setAsideRoute } from './http.js';

/** A device's wish to set its store aside and be started again, once its answer is sent. */
export class SetAsideRequest {
  #requested!: () => void;
  /** Resolved when the transaction device asked for it (the answer then has been sent). */
  readonly requested = new Promise<void>((resolve) => {
    this.#requested = resolve;
  });

  register(server: HttpServer, fence: StoreFence): void {
    server.post(
      setAsideRoute,
      { ...by('transaction-device'), schema: { hide: true } },
      async (request, reply) => {
        const damage = fence.damage;
        if (damage === undefined)
          return sendFailure(
            reply,
            fail('InvalidInput', "this device's store is not damaged: it is not set aside"),
          );
        request.log.warn(
          { damage },
          "setting the damaged store aside at a recovery's request; restarting",
        );
        reply.raw.once('finish', () => this.#requested());
        return { settingAside: true, damage };
      },
    );
  }
}

// A list kept live: subscribe, load once the server listens, apply events in order, and after a
// dropped connection either catch up from the last cursor or reload (see live.js).

import { watchRequests } from "./live.js";

// If the socket cannot be opened, the list is loaded anyway after this long (and again once
// the subscription listens, so nothing changed meanwhile is missed).
const LISTEN_WAIT_MS = 3_000;

export const CAUGHT_UP = "Live updates reconnected — caught up on the changes made meanwhile.";
export const RELOADED = "Live updates reconnected — reloaded: the list shows the present.";

/**
 * Follow `districtId`'s request events (null: everything the caller may see). `load()` reads
 * the list; `apply(event)` applies one event to it; `say(words)` tells the person;
 * `failed(message)` reports a refused subscription. Returns `{ ready, reload, stop }`: `ready`
 * settles once the first load is done.
 */
export function followRequests(live, districtId, { load, apply, say, failed }) {
  let pending = []; // events that arrive while the list loads, applied after it in order
  let listening;
  const heard = new Promise((resolve) => (listening = resolve));
  let loadedBeforeListening = false;

  function onEvent(event) {
    if (pending) pending.push(event);
    else apply(event);
  }

  async function loadAndApply() {
    pending = pending ?? [];
    try {
      await load();
    } finally {
      const events = pending ?? [];
      pending = null;
      for (const event of events) apply(event);
    }
  }

  // One load at a time: a later one starts after the earlier, so an older read never lands last.
  let loading = Promise.resolve();
  function reload() {
    loading = loading.catch(() => {}).then(loadAndApply);
    return loading;
  }

  const stop = watchRequests(live, districtId, {
    event: onEvent,
    listening: () => {
      listening();
      if (loadedBeforeListening) reload().catch((error) => failed(error?.message ?? String(error)));
    },
    resumed: () => say(CAUGHT_UP),
    stale: () =>
      reload().then(
        () => say(RELOADED),
        (error) => failed(error?.message ?? String(error)),
      ),
    error: failed,
  });

  async function first() {
    let timer;
    const waited = new Promise((resolve) => (timer = setTimeout(() => resolve("timeout"), LISTEN_WAIT_MS)));
    loadedBeforeListening = (await Promise.race([heard, waited])) === "timeout";
    clearTimeout(timer);
    await reload();
  }

  return { ready: first(), reload, stop };
}

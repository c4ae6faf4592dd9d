// The page's state in one object. `update(patch)` merges a patch and re-renders everything:
// lit-html only touches the DOM that changed, so focus and typed input survive a render.

const listeners = [];

export const state = {
  token: null, // set while signed in
  viewer: null, // { account, preferences }
  districts: [],
  districtId: null,
  district: null, // { ...district, slots, releases }
  requests: null, // { rows, totalCount, hasNextPage, endCursor }
  form: null, // the open dialog's form: { errors, busy, ... }
  queueStatus: "TO_BE_SCHEDULED", // staff queue filter ("" = every status)
  rollouts: null, // group rollouts the account may see (staff, state and consortium contacts)
  scheduleConflicts: null, // staff: scheduled work whose start now conflicts (scheduleConflicts)
  busy: false,
  live: "off", // "live" | "reconnecting" | "off"
  notice: "", // polite announcement (status region)
  alert: "", // a failure the person must see (alert region)
  signInError: "",
  demoAccounts: [],
};

export function onUpdate(listener) {
  listeners.push(listener);
}

export function update(patch = {}) {
  Object.assign(state, patch);
  for (const listener of listeners) listener(state);
}

// What the hosting staff's page does: the queue across districts, live; the scheduled work in
// conflict; scheduling into the next maintenance slots with the pre-flight of the chosen start
// (or with an override where the API allows one); status changes with a message.

import { graphql } from "./graphql.js";
import { PAGE_SIZE, applyEvent, fromConnection } from "./list.js";
import { followRequests } from "./follow.js";
import {
  GROUP_ROLLOUTS,
  MAINTENANCE_SLOTS,
  QUEUE,
  SCHEDULE_CHECK,
  SCHEDULE_CONFLICTS,
  SCHEDULE_REQUEST,
  SET_STATUS,
} from "./operations.js";
import { state, update } from "./store.js";
import { closeDialog, refreshDialog, showDialog } from "./views/dialog.js";
import { scheduleForm } from "./views/schedule.js";
import { statusForm } from "./views/staff.js";
import { STATUS_WORDS, fromLocalInput, toLocalInput } from "./words.js";
import { focusFirstInvalid } from "./forms.js";

// After status changes, the scheduled work in conflict and the rollouts' counts are read again,
// once for a burst.
const CONFLICTS_DELAY_MS = 500;

/** The start a Schedule form names now: the chosen slot, or the other time as an ISO instant. */
function chosenStart(formElement) {
  const fields = new FormData(formElement);
  const chosen = fields.get("start");
  return chosen === "other" ? fromLocalInput(fields.get("otherStart")) : chosen;
}

/** The slots the Schedule dialog offers: the next four that have not begun. A slot in progress
 * (the dialog opened inside a window) starts in the past, which scheduling refuses; a start inside
 * it is "Another time", where the pre-flight says whether enough of the window is left. */
const SLOTS_OFFERED = 4;
function slotsToOffer(slots) {
  const now = Date.now();
  return slots.filter((slot) => Date.parse(slot.start) >= now).slice(0, SLOTS_OFFERED);
}

export function staffActions(live) {
  let following = null;
  let conflictsTimer = null;

  const matchesFilter = (request) => !state.queueStatus || request.status === state.queueStatus;
  // Rows already shown stay (with their new status) until the next reload; new ones join the
  // top when they match the filter.
  const rules = { shows: (request) => request.status !== "CANCELLED", adds: matchesFilter };

  function onEvent(event) {
    update({ requests: applyEvent(state.requests, event, rules) });
    if (event.type !== "PROGRESS") {
      clearTimeout(conflictsTimer);
      conflictsTimer = setTimeout(() => Promise.all([loadConflicts(), loadRollouts()]).catch(() => {}), CONFLICTS_DELAY_MS);
    }
  }

  async function loadRollouts() {
    const data = await graphql(GROUP_ROLLOUTS);
    update({ rollouts: data.groupRollouts });
  }

  async function loadConflicts() {
    const data = await graphql(SCHEDULE_CONFLICTS);
    update({ scheduleConflicts: data.scheduleConflicts });
  }

  // The pre-flight of `start` for the open Schedule form; an answer for an earlier choice, or
  // for a form since closed, is dropped.
  async function checkStart(start) {
    const form = state.form;
    if (!start) {
      form.check = null;
      refreshDialog();
      return;
    }
    form.check = { start, checking: true };
    refreshDialog();
    let check;
    try {
      const data = await graphql(SCHEDULE_CHECK, { id: form.request.id, start });
      check = { start, ...data.scheduleCheck };
    } catch (error) {
      check = { start, failed: error.message ?? String(error) };
    }
    if (state.form !== form || form.check?.start !== start) return;
    form.check = check;
    refreshDialog();
  }

  async function loadQueue(previous = null) {
    const status = state.queueStatus;
    const data = await graphql(QUEUE, {
      statuses: status ? [status] : null,
      first: PAGE_SIZE,
      after: previous?.endCursor ?? null,
    });
    if (status !== state.queueStatus) return; // the filter changed meanwhile
    update({ requests: fromConnection(data.updateRequests, previous) });
  }

  // A mutation's payload: errors go into the open form; success closes it and updates the row.
  function settle(payload, formElement, message) {
    if (payload.errors.length) {
      state.form.errors = payload.errors;
      refreshDialog();
      focusFirstInvalid(formElement);
      return;
    }
    closeDialog();
    update({ requests: applyEvent(state.requests, { type: "STATUS_CHANGED", updateRequest: payload.updateRequest }, rules), notice: message });
  }

  async function busyWhile(work) {
    const form = state.form;
    form.busy = true;
    refreshDialog();
    try {
      await work();
    } finally {
      form.busy = false;
      if (state.form === form) refreshDialog();
    }
  }

  const actions = {
    async open() {
      // Subscribe first, load once the server listens: no change falls between the two.
      following = followRequests(live, null, {
        load: () => Promise.all([loadQueue(), loadConflicts(), loadRollouts()]),
        apply: onEvent,
        say: (notice) => update({ notice }),
        failed: (message) => update({ alert: `Live updates stopped: ${message}` }),
      });
      await following.ready;
    },

    close() {
      following?.stop();
      clearTimeout(conflictsTimer);
    },

    async filterQueue(status) {
      update({ queueStatus: status, requests: null });
      await following.reload();
    },

    async loadMore() {
      await loadQueue(state.requests);
    },

    async openSchedule(request) {
      const data = await graphql(MAINTENANCE_SLOTS, { districtId: request.district.id });
      const slots = slotsToOffer(data.maintenanceWindows);
      update({ form: { request, slots, errors: [], busy: false, check: null } });
      showDialog(() => scheduleForm(state.form, actions), "schedule-title");
      await checkStart(slots[0]?.start ?? null); // the slot chosen by default
    },

    // Another slot or time chosen: check it before anyone presses Schedule.
    async startChanged(event) {
      if (event.target.name === "override") return;
      await checkStart(chosenStart(event.currentTarget));
    },

    async useStart(formElement, start) {
      formElement.querySelector("#sf-other").checked = true;
      formElement.querySelector("#sf-other-time").value = toLocalInput(start);
      await checkStart(start);
    },

    async submitSchedule(event) {
      event.preventDefault();
      const formElement = event.target;
      const fields = new FormData(formElement);
      const start = chosenStart(formElement);
      if (!start) {
        settle({ errors: [{ code: "VALIDATION", message: "Choose a slot or enter a start time.", field: "start" }] }, formElement);
        return;
      }
      const variables = { id: state.form.request.id, start, override: fields.get("override") === "on" };
      await busyWhile(async () => {
        const { scheduleUpdateRequest } = await graphql(SCHEDULE_REQUEST, variables);
        settle(scheduleUpdateRequest, formElement, "The request was scheduled.");
        if (!scheduleUpdateRequest.errors.length) await loadConflicts();
      });
    },

    openStatusChange(request) {
      update({ form: { request, errors: [], busy: false } });
      showDialog(() => statusForm(state.form, actions), "status-title");
    },

    async submitStatusChange(event) {
      event.preventDefault();
      const formElement = event.target;
      const fields = new FormData(formElement);
      const status = fields.get("status");
      const variables = { id: state.form.request.id, status, message: fields.get("message") || null };
      await busyWhile(async () => {
        const { setUpdateRequestStatus } = await graphql(SET_STATUS, variables);
        settle(setUpdateRequestStatus, formElement, `The request is now ${STATUS_WORDS[status]}.`);
      });
    },

    closeForm() {
      closeDialog();
    },
  };
  return actions;
}

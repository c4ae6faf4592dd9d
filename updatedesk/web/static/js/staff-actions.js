// What the hosting staff's page does: the queue across districts, live; scheduling into the
// next maintenance slots (or with an override); status changes with a message.

import { graphql } from "./graphql.js";
import { PAGE_SIZE, applyEvent, fromConnection } from "./list.js";
import { followRequests } from "./follow.js";
import { MAINTENANCE_SLOTS, QUEUE, SCHEDULE_REQUEST, SET_STATUS } from "./operations.js";
import { state, update } from "./store.js";
import { closeDialog, refreshDialog, showDialog } from "./views/dialog.js";
import { scheduleForm, statusForm } from "./views/staff.js";
import { STATUS_WORDS, fromLocalInput } from "./words.js";
import { focusFirstInvalid } from "./forms.js";

export function staffActions(live) {
  let following = null;

  const matchesFilter = (request) => !state.queueStatus || request.status === state.queueStatus;
  // Rows already shown stay (with their new status) until the next reload; new ones join the
  // top when they match the filter.
  const rules = { shows: (request) => request.status !== "CANCELLED", adds: matchesFilter };

  function onEvent(event) {
    update({ requests: applyEvent(state.requests, event, rules) });
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
        load: () => loadQueue(),
        apply: onEvent,
        say: (notice) => update({ notice }),
        failed: (message) => update({ alert: `Live updates stopped: ${message}` }),
      });
      await following.ready;
    },

    close() {
      following?.stop();
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
      update({ form: { request, slots: data.maintenanceWindows, errors: [], busy: false } });
      showDialog(() => scheduleForm(state.form, actions), "schedule-title");
    },

    async submitSchedule(event) {
      event.preventDefault();
      const formElement = event.target;
      const fields = new FormData(formElement);
      const chosen = fields.get("start");
      const start = chosen === "other" ? fromLocalInput(fields.get("otherStart")) : chosen;
      if (!start) {
        settle({ errors: [{ code: "VALIDATION", message: "Choose a slot or enter a start time.", field: "start" }] }, formElement);
        return;
      }
      const variables = { id: state.form.request.id, start, override: fields.get("override") === "on" };
      await busyWhile(async () => {
        const { scheduleUpdateRequest } = await graphql(SCHEDULE_REQUEST, variables);
        settle(scheduleUpdateRequest, formElement, "The request was scheduled.");
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

// What the district contact's page does: load a district and its requests, keep them live,
// save Hide Complete, and send requests, cancellations and deletions.

import { graphql } from "./graphql.js";
import { PAGE_SIZE, applyEvent, fromConnection } from "./list.js";
import { followRequests } from "./follow.js";
import {
  CANCEL_REQUEST,
  DELETE_REQUEST,
  DISTRICT,
  DISTRICT_REQUESTS,
  GROUP_ROLLOUTS,
  REQUEST_UPDATE,
  SET_PREFERENCES,
} from "./operations.js";
import { state, update } from "./store.js";
import { closeDialog, confirmDialog, refreshDialog, showDialog } from "./views/dialog.js";
import { requestForm } from "./views/request-form.js";
import { ENVIRONMENT_WORDS, KIND_WORDS, fromLocalInput } from "./words.js";
import { focusFirstInvalid, idempotencyKey } from "./forms.js";

// After a status change, sites (version, online) and scheduled updates are read again, once
// for a burst of events.
const SUMMARY_DELAY_MS = 300;

export function districtActions(live) {
  let following = null; // the visible district's live list
  let summaryTimer = null;

  // What the list shows: this district's requests, not cancelled, and no completed ones while
  // Hide Complete is on ("when a requested update has been completed, it will disappear").
  const shows = (request) =>
    request.district.id === state.districtId &&
    request.status !== "CANCELLED" &&
    !(state.viewer.preferences.hideCompleted && request.status === "COMPLETED");

  function onEvent(event) {
    if (event.updateRequest.district.id !== state.districtId) return;
    update({ requests: applyEvent(state.requests, event, { shows }) });
    if (event.type !== "PROGRESS") {
      clearTimeout(summaryTimer);
      // A refresh that fails keeps the last summary (the list stays live); the next event tries again.
      const refresh = () => Promise.all([loadDistrict(state.districtId), loadRollouts()]).catch(() => {});
      summaryTimer = setTimeout(refresh, SUMMARY_DELAY_MS);
    }
  }

  async function loadDistrict(id) {
    const data = await graphql(DISTRICT, { id });
    if (id !== state.districtId) return; // the person chose another district meanwhile
    update({ district: { ...data.district, slots: data.maintenanceWindows, releases: data.releases } });
  }

  // State and consortium contacts follow their groups' rollouts (others are shown none).
  const seesRollouts = () => ["STATE_CONTACT", "CONSORTIUM_CONTACT"].includes(state.viewer.account.role);

  async function loadRollouts() {
    if (!seesRollouts()) return;
    const data = await graphql(GROUP_ROLLOUTS);
    update({ rollouts: data.groupRollouts });
  }

  async function loadRequests(id, previous = null) {
    const data = await graphql(DISTRICT_REQUESTS, { id, first: PAGE_SIZE, after: previous?.endCursor ?? null });
    if (id !== state.districtId) return;
    update({ requests: fromConnection(data.district.updateRequests, previous) });
  }

  const actions = {
    async open() {
      await Promise.all([actions.chooseDistrict(state.districts[0]?.id ?? null), loadRollouts()]);
    },

    close() {
      following?.stop();
      clearTimeout(summaryTimer);
    },

    async chooseDistrict(id) {
      following?.stop();
      following = null;
      update({ districtId: id, district: null, requests: null });
      if (!id) return;
      // Subscribe first, load once the server listens: no change falls between the two.
      following = followRequests(live, id, {
        load: () => Promise.all([loadDistrict(id), loadRequests(id)]),
        apply: onEvent,
        say: (notice) => update({ notice }),
        failed: (message) => update({ alert: `Live updates stopped: ${message}` }),
      });
      await following.ready;
    },

    async loadMore() {
      await loadRequests(state.districtId, state.requests);
    },

    async setHideCompleted(hideCompleted) {
      const data = await graphql(SET_PREFERENCES, { hideCompleted });
      update({ viewer: { ...state.viewer, preferences: data.setPreferences } });
      await loadRequests(state.districtId); // the list query follows the saved preference
    },

    openRequestForm() {
      const environment = state.district.environments[0]?.kind;
      update({ form: { kind: "VERSION_UPDATE", environment, errors: [], busy: false, key: idempotencyKey() } });
      showDialog(() => requestForm(state.form, state.district, actions), "request-form-title");
    },

    editForm(patch) {
      Object.assign(state.form, patch);
      refreshDialog();
    },

    closeForm() {
      closeDialog();
    },

    async submitRequest(event) {
      event.preventDefault();
      const fields = new FormData(event.target);
      const form = state.form;
      const input = {
        districtId: state.districtId,
        kind: fields.get("kind"),
        environment: fields.get("environment"),
        targetVersion: form.kind === "VERSION_UPDATE" ? fields.get("targetVersion") || null : null,
        preferredStart: fromLocalInput(fields.get("preferredStart")),
        notes: fields.get("notes") || null,
        // The same key again (a retry after a lost answer) returns the first request.
        idempotencyKey: form.key,
      };
      actions.editForm({ busy: true });
      try {
        const { requestUpdate } = await graphql(REQUEST_UPDATE, { input });
        if (requestUpdate.errors.length) {
          actions.editForm({ errors: requestUpdate.errors });
          focusFirstInvalid(event.target);
          return;
        }
        closeDialog();
        const request = requestUpdate.updateRequest;
        update({
          requests: applyEvent(state.requests, { type: "CREATED", updateRequest: request }, { shows }),
          notice: `Requested: ${KIND_WORDS[request.kind]} of ${ENVIRONMENT_WORDS[request.environment.kind]}.`,
        });
      } finally {
        if (state.form === form) actions.editForm({ busy: false });
      }
    },

    async cancelRequest(request) {
      if (!(await confirmDialog("Are you sure that you would like to cancel this request?"))) return;
      const { cancelUpdateRequest: payload } = await graphql(CANCEL_REQUEST, { id: request.id });
      finish(payload, request, "The request was cancelled and removed from the queue.");
    },

    async deleteRequest(request) {
      if (!(await confirmDialog("Are you sure that you would like to delete this request?"))) return;
      const { deleteUpdateRequest: payload } = await graphql(DELETE_REQUEST, { id: request.id });
      finish(payload, request, "The completed request was deleted.");
    },
  };

  // A cancelled or deleted request leaves the list (its REMOVED event may come first or after).
  function finish(payload, request, message) {
    if (payload.errors.length) {
      update({ alert: payload.errors.map((error) => error.message).join(" ") });
      return;
    }
    update({
      requests: applyEvent(state.requests, { type: "REMOVED", updateRequest: request }, { shows }),
      notice: message,
    });
  }

  return actions;
}

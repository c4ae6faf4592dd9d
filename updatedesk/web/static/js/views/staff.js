// Hosting staff: the scheduled work in conflict, the queue across districts filtered by status,
// "Schedule" (views/schedule.js) and "Change status" with a message for the district.

import { html, nothing } from "../../vendor/lit-html.js";
import { STATUS_WORDS } from "../words.js";
import { describedBy, fieldErrors, formErrors, invalid } from "./common.js";
import { requestItem, requestList } from "./requests.js";
import { rolloutsSection } from "./rollouts.js";
import { conflictsSection } from "./schedule.js";

// Statuses a request can be scheduled from (DESIGN §1, "Statuses and who moves them").
const SCHEDULABLE = ["TO_BE_SCHEDULED", "SCHEDULED", "PENDING_INPUT", "DEFERRED"];
// Statuses staff may set with setUpdateRequestStatus; the API refuses moves the lifecycle
// does not allow (INVALID_TRANSITION), and the dialog shows why.
export const STAFF_TARGETS = ["PENDING_INPUT", "DEFERRED", "TO_BE_SCHEDULED", "UNABLE_TO_COMPLETE"];

function staffActions(request, actions) {
  const described = `request-${request.id}-title`;
  return html`
    ${SCHEDULABLE.includes(request.status)
      ? html`<button type="button" class="primary" aria-describedby=${described} @click=${() => actions.openSchedule(request)}>Schedule</button>`
      : nothing}
    <button type="button" aria-describedby=${described} @click=${() => actions.openStatusChange(request)}>Change status</button>
  `;
}

export function staffView(state, actions) {
  return html`
    <div class="district-bar"><h1 class="district-title">Update queue</h1></div>
    ${conflictsSection(state.scheduleConflicts, actions)}
    <section aria-labelledby="queue-title">
      <div class="section-head">
        <h2 id="queue-title">Requests across districts</h2>
        <div class="field inline">
          <label for="queue-status">Status</label>
          <select id="queue-status" @change=${(event) => actions.filterQueue(event.target.value)}>
            <option value="" ?selected=${state.queueStatus === ""}>Every status</option>
            ${Object.entries(STATUS_WORDS)
              .filter(([status]) => status !== "CANCELLED")
              .map(([status, word]) => html`<option value=${status} ?selected=${state.queueStatus === status}>${word}</option>`)}
          </select>
        </div>
      </div>
      ${requestList(
        state.requests,
        (request) => requestItem(request, staffActions(request, actions), { showDistrict: true }),
        actions.loadMore,
        "No requests with this status.",
      )}
    </section>
    ${rolloutsSection(state.rollouts)}
  `;
}

export function statusForm(form, actions) {
  const { request, errors } = form;
  return html`
    <h2 id="status-title">Change status</h2>
    <p>${request.district.name}: now ${STATUS_WORDS[request.status]}</p>
    <form novalidate @submit=${actions.submitStatusChange}>
      ${formErrors(errors, ["status", "message"])}
      <div class="field">
        <label for="st-status">New status</label>
        <select id="st-status" name="status" aria-invalid=${invalid(errors, "status")}
          aria-describedby=${describedBy(errors, "status", "st-status")}>
          ${STAFF_TARGETS.map((status) => html`<option value=${status}>${STATUS_WORDS[status]}</option>`)}
        </select>
        ${fieldErrors(errors, "status", "st-status")}
      </div>
      <div class="field">
        <label for="st-message">Message for the district</label>
        <textarea id="st-message" name="message" rows="3" aria-invalid=${invalid(errors, "message")}
          aria-describedby=${describedBy(errors, "message", "st-message")}></textarea>
        ${fieldErrors(errors, "message", "st-message")}
      </div>
      <div class="buttons">
        <button type="submit" class="primary" ?disabled=${form.busy}>Change status</button>
        <button type="button" @click=${actions.closeForm}>Close</button>
      </div>
    </form>
  `;
}

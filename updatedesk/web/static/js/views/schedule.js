// Hosting staff scheduling: the "Schedule" dialog with the district's next maintenance slots and
// the pre-flight of the chosen start (scheduleCheck: every conflict in words, next to the start,
// and the next possible start), and the scheduled work whose start now conflicts
// (scheduleConflicts). The override is offered only for what the API lets it lift.

import { html, nothing } from "../../vendor/lit-html.js";
import {
  CONFLICT_WORDS,
  ENVIRONMENT_WORDS,
  KIND_WORDS,
  OVERRIDABLE_CONFLICTS,
  centralTime,
  localTime,
} from "../words.js";
import { describedBy, fieldErrors, formErrors, invalid, when } from "./common.js";

function slotLabel(slot) {
  const central = centralTime(slot.start);
  return central ? `${localTime(slot.start)} (Central: ${central})` : localTime(slot.start);
}

function conflictItem(conflict) {
  return html`<li><strong>${CONFLICT_WORDS[conflict.code] ?? conflict.code}:</strong> ${conflict.message}</li>`;
}

/** What the pre-flight says about the chosen start (a polite live region next to it). */
function preflight(check, actions) {
  let body = nothing;
  if (!check) body = html`<p class="muted">Choose a start to check it.</p>`;
  else if (check.checking) body = html`<p class="muted">Checking this start…</p>`;
  else if (check.failed) body = html`<p>This start could not be checked: ${check.failed}</p>`;
  else if (!check.conflicts.length) body = html`<p class="ok"><span aria-hidden="true">✓</span> No conflict at this start.</p>`;
  else {
    const next = check.nextPossibleStart;
    body = html`<p class="conflicts-title"><span aria-hidden="true">⚠</span> Conflicts at this start:</p>
      <ul class="conflict-list">${check.conflicts.map(conflictItem)}</ul>
      ${next
        ? html`<button type="button" @click=${(event) => actions.useStart(event.target.form, next)}>
            Use the next possible start: ${localTime(next)}</button>`
        : html`<p>No maintenance window is long enough for this work.</p>`}`;
  }
  return html`<div id="sf-start-check" class="preflight" role="status">${body}</div>`;
}

export function scheduleForm(form, actions) {
  const { request, slots, errors, check } = form;
  const overridable = Boolean(check?.conflicts?.some((conflict) => OVERRIDABLE_CONFLICTS.includes(conflict.code)));
  const fieldErrorId = describedBy(errors, "start", "sf-start");
  return html`
    <h2 id="schedule-title">Schedule</h2>
    <p>${request.district.name}: ${request.kind === "VERSION_UPDATE" ? `version update to ${request.targetVersion}` : "database refresh"}
      of ${request.environment.kind.toLowerCase()}</p>
    <form novalidate @submit=${actions.submitSchedule} @change=${actions.startChanged}>
      ${formErrors(errors, ["start", "overrideMaintenanceWindow"])}
      <fieldset aria-describedby=${fieldErrorId === nothing ? "sf-start-check" : `${fieldErrorId} sf-start-check`}>
        <legend>Start</legend>
        ${slots.length ? nothing : html`<p class="muted">This district has no maintenance slots.</p>`}
        ${slots.map(
          (slot, index) => html`<div class="choice">
            <input type="radio" id="sf-slot-${index}" name="start" value=${slot.start} ?checked=${index === 0} />
            <label for="sf-slot-${index}">${slotLabel(slot)}</label>
          </div>`,
        )}
        <div class="choice">
          <input type="radio" id="sf-other" name="start" value="other" ?checked=${!slots.length} />
          <label for="sf-other">Another time</label>
        </div>
        <label for="sf-other-time" class="sub">Other start (your time)</label>
        <input id="sf-other-time" name="otherStart" type="datetime-local" aria-invalid=${invalid(errors, "start")}
          @focus=${(event) => (event.target.form.querySelector("#sf-other").checked = true)} />
        ${fieldErrors(errors, "start", "sf-start")}
        ${preflight(check, actions)}
      </fieldset>
      <div class="field checkbox">
        <input id="sf-override" name="override" type="checkbox" ?disabled=${!overridable} aria-describedby="sf-override-hint" />
        <label for="sf-override">Override maintenance window</label>
      </div>
      <p id="sf-override-hint" class="hint muted">
        Only a start outside the maintenance window (or in one too short) can be overridden, and the
        history records it. A blackout or a site busy with other work cannot be overridden.
      </p>
      <div class="buttons">
        <button type="submit" class="primary" ?disabled=${form.busy}>Schedule</button>
        <button type="button" @click=${actions.closeForm}>Close</button>
      </div>
    </form>
  `;
}

/** Scheduled work whose start now conflicts, one entry per request with all its conflicts. */
export function conflictsSection(conflicts, actions) {
  if (!conflicts) return nothing;
  const byRequest = new Map();
  for (const conflict of conflicts) {
    const id = conflict.updateRequest.id;
    if (!byRequest.has(id)) byRequest.set(id, { request: conflict.updateRequest, conflicts: [] });
    byRequest.get(id).conflicts.push(conflict);
  }
  return html`<section aria-labelledby="conflicts-title">
    <h2 id="conflicts-title">Scheduled work in conflict</h2>
    ${byRequest.size
      ? html`<ul class="conflicted">
          ${[...byRequest.values()].map(({ request, conflicts: found }) => {
            const title = `conflict-${request.id}-title`;
            return html`<li class="conflicted-request" data-request-id=${request.id}>
              <p id=${title}><strong>${request.district.name}</strong>: ${KIND_WORDS[request.kind]} of
                ${ENVIRONMENT_WORDS[request.environment.kind]}${request.targetVersion ? ` to ${request.targetVersion}` : ""},
                scheduled ${when(request.scheduledStart, { central: true })}</p>
              <ul class="conflict-list">${found.map(conflictItem)}</ul>
              <button type="button" aria-describedby=${title} @click=${() => actions.openSchedule(request)}>Reschedule</button>
            </li>`;
          })}
        </ul>`
      : html`<p class="muted">No scheduled work conflicts with a blackout, a maintenance window or other work.</p>`}
  </section>`;
}

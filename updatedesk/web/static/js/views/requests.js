// One request as a list item: what, where, status in the seed's words, when, progress while it
// runs, its history on expand, and the actions the API says this viewer may take.

import { html, nothing } from "../../vendor/lit-html.js";
import { ENVIRONMENT_WORDS, KIND_WORDS, STATUS_WORDS } from "../words.js";
import { statusBadge, when } from "./common.js";

function title(request) {
  return `${KIND_WORDS[request.kind]} · ${ENVIRONMENT_WORDS[request.environment.kind]}`;
}

function progress(request) {
  if (request.status !== "IN_PROGRESS") return nothing;
  const percent = request.progress?.percent ?? 0;
  const step = request.progress?.step;
  return html`<div class="progress">
    <progress max="100" .value=${percent} aria-label="Progress of ${title(request)}">${percent}%</progress>
    <span>${percent}%${step ? ` — ${step}` : ""}</span>
  </div>`;
}

function history(request) {
  return html`<details class="history">
    <summary>History</summary>
    <ol>
      ${request.history.map(
        (move) => html`<li>
          ${when(move.at)}: ${move.from ? `${STATUS_WORDS[move.from]} → ` : ""}<strong>${STATUS_WORDS[move.to]}</strong>
          ${move.by ? html` by ${move.by.name}` : html` by the system`}
          ${move.windowOverride ? html` (outside the maintenance window, by override)` : nothing}
          ${move.message ? html`<br /><span class="message">“${move.message}”</span>` : nothing}
        </li>`,
      )}
    </ol>
  </details>`;
}

/**
 * `actions` is a template of buttons for this request (the district view's Cancel / Delete, the
 * staff view's Schedule / Change status); `showDistrict` adds the district's name (staff queue).
 */
export function requestItem(request, actions, { showDistrict = false } = {}) {
  const titleId = `request-${request.id}-title`;
  return html`<li class="request" data-request-id=${request.id} data-status=${request.status} aria-labelledby=${titleId}>
    <div class="request-head">
      <h3 id=${titleId}>${title(request)}${request.targetVersion ? html` to ${request.targetVersion}` : nothing}</h3>
      ${statusBadge(request.status)}
    </div>
    ${showDistrict ? html`<p class="district-name">${request.district.name}</p>` : nothing}
    <dl class="facts">
      <div><dt>Kind</dt><dd>${KIND_WORDS[request.kind]}${request.automatic ? " (automatic)" : ""}</dd></div>
      <div><dt>Environment</dt><dd>${ENVIRONMENT_WORDS[request.environment.kind]}</dd></div>
      <div><dt>Target</dt><dd>${request.targetVersion ?? "Copy of production data"}</dd></div>
      <div><dt>Scheduled start</dt><dd>${when(request.scheduledStart, { central: true, empty: "not scheduled yet" })}</dd></div>
      ${request.preferredStart && !request.scheduledStart
        ? html`<div><dt>Preferred start</dt><dd>${when(request.preferredStart, { central: true })}</dd></div>`
        : nothing}
      <div><dt>Requested</dt><dd>${when(request.createdAt)}${request.requestedBy ? ` by ${request.requestedBy.name}` : ""}</dd></div>
    </dl>
    ${request.statusMessage ? html`<p class="message">${request.statusMessage}</p>` : nothing}
    ${progress(request)}
    <div class="request-foot">${history(request)}<div class="buttons">${actions}</div></div>
  </li>`;
}

/** The list with its paging button. */
export function requestList(list, item, loadMore, emptyText) {
  if (!list) return html`<p class="muted">Loading requests…</p>`;
  return html`
    ${list.rows.length
      ? html`<ul class="requests">${list.rows.map(item)}</ul>`
      : html`<p class="muted">${emptyText}</p>`}
    <p class="muted count">Showing ${list.rows.length} of ${list.totalCount}.</p>
    ${list.hasNextPage ? html`<button type="button" @click=${loadMore}>Show more requests</button>` : nothing}
  `;
}

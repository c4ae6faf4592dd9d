// The district contact's page: the district (a combobox when there are several), its sites and
// next maintenance slots, and its requests with Hide Complete, Request update, Cancel, Delete.

import { html, nothing } from "../../vendor/lit-html.js";
import { ENVIRONMENT_WORDS, KIND_WORDS } from "../words.js";
import { when } from "./common.js";
import { requestItem, requestList } from "./requests.js";
import { rolloutsSection } from "./rollouts.js";

function districtPicker(state, actions) {
  if (state.districts.length < 2) return nothing;
  return html`<div class="field inline">
    <label for="district">District</label>
    <select id="district" @change=${(event) => actions.chooseDistrict(event.target.value)}>
      ${state.districts.map(
        (district) => html`<option value=${district.id} ?selected=${district.id === state.districtId}>${district.name}</option>`,
      )}
    </select>
  </div>`;
}

function environmentCard(environment) {
  const name = ENVIRONMENT_WORDS[environment.kind];
  return html`<li class="environment" aria-labelledby="env-${environment.id}">
    <h3 id="env-${environment.id}">${name}</h3>
    <p class=${environment.online ? "online" : "offline"}>
      <span aria-hidden="true">${environment.online ? "●" : "○"}</span> ${environment.online ? "Online" : "Offline"}
    </p>
    <dl class="facts">
      <div><dt>Current version</dt><dd>${environment.currentVersion}</dd></div>
      <div><dt>Version installed</dt><dd>${when(environment.versionUpdatedAt)}</dd></div>
      <div><dt>Last refresh</dt><dd>${when(environment.lastRefreshedAt, { empty: "never" })}</dd></div>
    </dl>
    ${environment.scheduledUpdates.length
      ? html`<p class="scheduled-label">Scheduled updates</p>
          <ul class="plain">
            ${environment.scheduledUpdates.map(
              (update) => html`<li>
                ${KIND_WORDS[update.kind]}${update.targetVersion ? ` to ${update.targetVersion}` : ""}:
                ${when(update.scheduledStart, { central: true, empty: "not scheduled yet" })}
              </li>`,
            )}
          </ul>`
      : nothing}
  </li>`;
}

function slots(district) {
  if (!district.slots.length) {
    return html`<p class="muted">Updates of this district are not bound to maintenance windows.</p>`;
  }
  return html`<ul class="plain slots">
    ${district.slots.map((slot) => html`<li>${when(slot.start, { central: true })}</li>`)}
  </ul>`;
}

function requestActions(request, actions) {
  const described = `request-${request.id}-title`;
  return html`
    ${request.canCancel
      ? html`<button type="button" aria-describedby=${described} @click=${() => actions.cancelRequest(request)}>Cancel</button>`
      : nothing}
    ${request.canDelete
      ? html`<button type="button" class="danger" aria-describedby=${described} @click=${() => actions.deleteRequest(request)}>Delete</button>`
      : nothing}
  `;
}

export function districtView(state, actions) {
  const district = state.district;
  const canRequest = state.viewer.account.role !== "VIEWER"; // VIEWER is the read-only role
  return html`
    <div class="district-bar">
      <h1 class="district-title">${district?.name ?? "Loading…"}</h1>
      ${districtPicker(state, actions)}
    </div>
    ${district
      ? html`
          ${district.updateGroup
            ? html`<p class="note">
                Version updates of this district come with its ${district.updateGroup.kind === "STATE" ? "state" : "consortium"}
                group, ${district.updateGroup.name}. Database refreshes can be requested here.
              </p>`
            : nothing}
          <section aria-labelledby="sites-title">
            <h2 id="sites-title">Sites</h2>
            <ul class="environments">${district.environments.map(environmentCard)}</ul>
          </section>
          <section aria-labelledby="slots-title">
            <h2 id="slots-title">Next maintenance slots</h2>
            ${slots(district)}
          </section>
        `
      : nothing}
    <section aria-labelledby="requests-title">
      <div class="section-head">
        <h2 id="requests-title">Update requests</h2>
        <div class="field inline checkbox">
          <input
            id="hide-complete"
            type="checkbox"
            .checked=${state.viewer.preferences.hideCompleted}
            @change=${(event) => actions.setHideCompleted(event.target.checked)}
          />
          <label for="hide-complete">Hide Complete</label>
        </div>
        ${canRequest && district
          ? html`<button type="button" class="primary" @click=${actions.openRequestForm}>Request update</button>`
          : nothing}
      </div>
      ${requestList(
        state.requests,
        (request) => requestItem(request, requestActions(request, actions)),
        actions.loadMore,
        "No update requests to show.",
      )}
    </section>
    ${rolloutsSection(state.rollouts, { hideWhenEmpty: true })}
  `;
}

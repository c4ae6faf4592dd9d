// "Request update": kind, environment (only the district's own), version (catalog releases newer
// than the environment's current one), preferred start and notes. Refusals from the API are
// shown under the field they name.

import { html, nothing } from "../../vendor/lit-html.js";
import { ENVIRONMENT_WORDS, KIND_WORDS, compareVersions } from "../words.js";
import { describedBy, fieldErrors, formErrors, invalid } from "./common.js";

// Input fields of RequestUpdateInput that this form shows; errors naming others go on top.
const FIELDS = ["kind", "environment", "targetVersion", "preferredStart", "notes"];

export function newerReleases(district, environmentKind) {
  const environment = district.environments.find((e) => e.kind === environmentKind);
  return district.releases
    .map((release) => release.version)
    .filter((version) => !environment || compareVersions(version, environment.currentVersion) > 0);
}

export function requestForm(form, district, actions) {
  const errors = form.errors;
  const versions = newerReleases(district, form.environment);
  return html`
    <h2 id="request-form-title">Request update</h2>
    <p class="muted">${district.name}</p>
    <form novalidate @submit=${actions.submitRequest}>
      ${formErrors(errors, FIELDS)}
      <div class="field">
        <label for="rf-kind">Kind</label>
        <select id="rf-kind" name="kind" aria-invalid=${invalid(errors, "kind")}
          aria-describedby=${describedBy(errors, "kind", "rf-kind")}
          @change=${(event) => actions.editForm({ kind: event.target.value })}>
          ${Object.entries(KIND_WORDS).map(
            ([value, word]) => html`<option value=${value} ?selected=${form.kind === value}>${word}</option>`,
          )}
        </select>
        ${fieldErrors(errors, "kind", "rf-kind")}
      </div>
      <div class="field">
        <label for="rf-environment">Environment</label>
        <select id="rf-environment" name="environment" aria-invalid=${invalid(errors, "environment")}
          aria-describedby=${describedBy(errors, "environment", "rf-environment")}
          @change=${(event) => actions.editForm({ environment: event.target.value })}>
          ${district.environments.map(
            (environment) => html`<option value=${environment.kind} ?selected=${form.environment === environment.kind}>
              ${ENVIRONMENT_WORDS[environment.kind]} (now ${environment.currentVersion})
            </option>`,
          )}
        </select>
        ${fieldErrors(errors, "environment", "rf-environment")}
      </div>
      ${form.kind === "VERSION_UPDATE"
        ? html`<div class="field">
            <label for="rf-version">Version</label>
            <select id="rf-version" name="targetVersion" aria-invalid=${invalid(errors, "targetVersion")}
              aria-describedby=${describedBy(errors, "targetVersion", "rf-version")}>
              ${versions.length
                ? versions.map((version) => html`<option value=${version}>${version}</option>`)
                : html`<option value="">No newer release</option>`}
            </select>
            ${fieldErrors(errors, "targetVersion", "rf-version")}
          </div>`
        : nothing}
      <div class="field">
        <label for="rf-start">Preferred start <span class="muted">(optional, your time)</span></label>
        <input id="rf-start" name="preferredStart" type="datetime-local" aria-invalid=${invalid(errors, "preferredStart")}
          aria-describedby=${describedBy(errors, "preferredStart", "rf-start")} />
        ${fieldErrors(errors, "preferredStart", "rf-start")}
      </div>
      <div class="field">
        <label for="rf-notes">Notes <span class="muted">(optional)</span></label>
        <textarea id="rf-notes" name="notes" rows="3" aria-invalid=${invalid(errors, "notes")}
          aria-describedby=${describedBy(errors, "notes", "rf-notes")}></textarea>
        ${fieldErrors(errors, "notes", "rf-notes")}
      </div>
      <div class="buttons">
        <button type="submit" class="primary" ?disabled=${form.busy}>Send request</button>
        <button type="button" @click=${actions.closeForm}>Close</button>
      </div>
    </form>
  `;
}

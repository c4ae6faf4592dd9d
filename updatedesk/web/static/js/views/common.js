// Small pieces shared by the views.

import { html, nothing } from "../../vendor/lit-html.js";
import { STATUS_SYMBOLS, STATUS_WORDS, centralTime, localTime } from "../words.js";

/** Status as a symbol and the seed's word (colour only repeats what the text says). */
export function statusBadge(status) {
  return html`<span class="status status-${status.toLowerCase().replaceAll("_", "-")}">
    <span aria-hidden="true">${STATUS_SYMBOLS[status]}</span> <span class="word">${STATUS_WORDS[status]}</span>
  </span>`;
}

/**
 * An instant in the viewer's time zone; with `central`, also in Central time when that differs
 * (start times: the maintenance window is defined in Central time).
 */
export function when(iso, { central = false, empty = "not known" } = {}) {
  if (!iso) return html`<span class="muted">${empty}</span>`;
  const other = central ? centralTime(iso) : "";
  return html`<time datetime=${iso}>${localTime(iso)}</time>${other
      ? html`<span class="central"> (Central: ${other})</span>`
      : nothing}`;
}

/** The payload errors that name `field`, shown under the control with that id. */
export function fieldErrors(errors, field, id) {
  const mine = errors.filter((error) => error.field === field);
  if (!mine.length) return nothing;
  return html`<p class="field-error" id="${id}-error">
    ${mine.map((error) => html`<span>${error.message}</span> `)}
  </p>`;
}

/** `aria-invalid` of the control for `field`. */
export function invalid(errors, field) {
  return errors.some((error) => error.field === field) ? "true" : "false";
}

/** `aria-describedby` of the control for `field`: its error message, when there is one. */
export function describedBy(errors, field, id) {
  return errors.some((error) => error.field === field) ? `${id}-error` : nothing;
}

/** Errors naming no field of the form (or a field it does not show). */
export function formErrors(errors, shownFields) {
  const rest = errors.filter((error) => !shownFields.includes(error.field));
  if (!rest.length) return nothing;
  return html`<div class="form-error" role="alert" tabindex="-1">
    ${rest.map((error) => html`<p>${error.message}</p>`)}
  </div>`;
}

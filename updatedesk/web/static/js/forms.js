// Helpers for the page's forms.

/** Move focus to the first control the API refused, so its message is read out with it. */
export function focusFirstInvalid(form) {
  form.querySelector('[aria-invalid="true"], .form-error')?.focus();
}

/** A random key for `requestUpdate(input: {idempotencyKey})`: one per opened form. */
export function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // also on plain-http deployments
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

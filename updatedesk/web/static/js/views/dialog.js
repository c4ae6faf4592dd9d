// One modal <dialog> for the page's forms and confirmations. The native element gives focus
// trapping, Escape to close and focus returned to the opener, with no code of ours.

import { html, render, nothing } from "../../vendor/lit-html.js";

const element = document.getElementById("dialog");
let view = null;

element.addEventListener("close", () => {
  view = null;
  render(nothing, element);
});

/** Show `template()` in the dialog; `refreshDialog()` renders it again after a state change. */
export function showDialog(template, labelId) {
  view = template;
  element.setAttribute("aria-labelledby", labelId);
  refreshDialog();
  if (!element.open) element.showModal();
}

export function refreshDialog() {
  if (view) render(view(), element);
}

export function closeDialog() {
  element.close();
}

/** Ask a yes/no question; resolves true for "Yes". */
export function confirmDialog(question) {
  return new Promise((resolve) => {
    const answer = (yes) => {
      element.removeEventListener("close", onClose);
      closeDialog();
      resolve(yes);
    };
    const onClose = () => resolve(false); // Escape
    element.addEventListener("close", onClose, { once: true });
    showDialog(
      () => html`
        <h2 id="confirm-title">Please confirm</h2>
        <p>${question}</p>
        <div class="buttons">
          <button type="button" class="primary" @click=${() => answer(true)}>Yes</button>
          <button type="button" autofocus @click=${() => answer(false)}>No</button>
        </div>
      `,
      "confirm-title",
    );
  });
}

// Sign-in: paste an API token, or (on `updatedesk dev` only) pick a demo account.

import { html, nothing } from "../../vendor/lit-html.js";
import { ROLE_WORDS } from "../words.js";

function demoChoices(accounts, actions) {
  if (!accounts.length) return nothing;
  return html`<section aria-labelledby="demo-title" class="card">
    <h2 id="demo-title">Demo accounts</h2>
    <p class="muted">This development server offers its demo accounts: sign in with one click.</p>
    <ul class="plain demo-accounts">
      ${accounts.map(
        (account) => html`<li>
          <button type="button" @click=${() => actions.signIn(account.token)}>
            Sign in as ${account.email} (${ROLE_WORDS[account.role] ?? account.role})
          </button>
        </li>`,
      )}
    </ul>
  </section>`;
}

export function signInView(state, actions) {
  const submit = (event) => {
    event.preventDefault();
    actions.signIn(new FormData(event.target).get("token"));
  };
  return html`
    <h1>Sign in</h1>
    <section class="card" aria-labelledby="token-title">
      <h2 id="token-title">With your API token</h2>
      <form novalidate @submit=${submit}>
        <div class="field">
          <label for="token">API token</label>
          <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required
            aria-invalid=${state.signInError ? "true" : "false"}
            aria-describedby=${state.signInError ? "token-error" : "token-hint"} />
          <p id="token-hint" class="muted">Hosting staff issue tokens. It is kept in this tab only, until you sign out or close it.</p>
          ${state.signInError ? html`<p id="token-error" class="field-error">${state.signInError}</p>` : nothing}
        </div>
        <button type="submit" class="primary" ?disabled=${state.busy}>Sign in</button>
      </form>
    </section>
    ${demoChoices(state.demoAccounts, actions)}
  `;
}

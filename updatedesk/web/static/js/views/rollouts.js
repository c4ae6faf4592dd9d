// Group rollouts, read-only: one version rolled out to a state or consortium group in waves under
// an error budget, with its requests counted per status and the districts it skipped.

import { html, nothing } from "../../vendor/lit-html.js";
import { ENVIRONMENT_WORDS, ROLLOUT_WORDS, STATUS_WORDS } from "../words.js";
import { when } from "./common.js";

function rolloutItem(rollout) {
  const title = `rollout-${rollout.id}-title`;
  const group = rollout.updateGroup;
  return html`<li class="rollout rollout-${rollout.status.toLowerCase()}" aria-labelledby=${title}>
    <h3 id=${title}>${group.name}: ${ENVIRONMENT_WORDS[rollout.environment]} to ${rollout.targetVersion}</h3>
    <p><span class="rollout-status">${ROLLOUT_WORDS[rollout.status]}</span>${rollout.statusMessage ? html` — ${rollout.statusMessage}` : nothing}</p>
    <p class="muted">${group.kind === "STATE" ? "State" : "Consortium"} group · waves of ${rollout.waveSize} ·
      halts after ${rollout.maxFailures} failed ${rollout.maxFailures === 1 ? "district" : "districts"} · started ${when(rollout.createdAt)}</p>
    ${rollout.counts.length
      ? html`<ul class="counts" aria-label="Requests by status">
          ${rollout.counts.map((c) => html`<li><span class="count">${c.count}</span> ${STATUS_WORDS[c.status]}</li>`)}
        </ul>`
      : html`<p class="muted">No requests of yours in it.</p>`}
    ${rollout.skipped.length
      ? html`<details>
          <summary>${rollout.skipped.length} ${rollout.skipped.length === 1 ? "district" : "districts"} skipped</summary>
          <ul>${rollout.skipped.map((s) => html`<li>${s.district.name}: ${s.message}</li>`)}</ul>
        </details>`
      : nothing}
  </li>`;
}

/** The rollouts section; nothing until loaded, or when `hideWhenEmpty` and there are none. */
export function rolloutsSection(rollouts, { hideWhenEmpty = false } = {}) {
  if (!rollouts || (hideWhenEmpty && !rollouts.length)) return nothing;
  return html`<section aria-labelledby="rollouts-title">
    <h2 id="rollouts-title">Group rollouts</h2>
    ${rollouts.length
      ? html`<ul class="rollouts">${rollouts.map(rolloutItem)}</ul>`
      : html`<p class="muted">No group rollouts.</p>`}
  </section>`;
}

// The Manage Updates page: sign-in, then the district contact's page or the hosting staff's
// queue, re-rendered from `state` on every change, kept live over one WebSocket.
//
// UI library: lit-html (the template core of Lit; BSD-3-Clause, 7 KB, no dependencies). Chosen
// over preact + htm because it is one package whose ES module has no bare imports: the page
// needs no import map, hence no inline script, and keeps `script-src 'self'` with no build step.

import { html, nothing, render } from "../vendor/lit-html.js";
import { ApiError, graphql } from "./graphql.js";
import { createLiveClient } from "./live.js";
import { VIEWER } from "./operations.js";
import * as session from "./session.js";
import { onUpdate, state, update } from "./store.js";
import { districtActions } from "./district-actions.js";
import { staffActions } from "./staff-actions.js";
import { closeDialog, refreshDialog } from "./views/dialog.js";
import { districtView } from "./views/district.js";
import { signInView } from "./views/signin.js";
import { staffView } from "./views/staff.js";
import { ROLE_WORDS } from "./words.js";

const root = document.getElementById("app");
let live = null; // the graphql-ws client while signed in
let page = null; // the signed-in page's actions (district contact's or staff's)

const LIVE_WORDS = { live: "on", reconnecting: "reconnecting…", off: "off" };

/** Wrap an action: a failed call shows an alert; an expired token signs the person out. */
function guarded(action) {
  return async (...args) => {
    try {
      update({ alert: "" });
      return await action(...args);
    } catch (error) {
      if (error instanceof ApiError && error.code === "UNAUTHENTICATED") {
        signOut("Your token is no longer valid. Sign in again.");
      } else {
        console.error(error);
        update({ alert: error.message ?? String(error) });
      }
    }
  };
}

function guardAll(actions) {
  return Object.fromEntries(
    Object.entries(actions).map(([name, action]) => [name, typeof action === "function" ? guarded(action) : action]),
  );
}

async function start() {
  const data = await graphql(VIEWER);
  live = createLiveClient({
    // Each list says itself whether it caught up or was reloaded (follow.js).
    connected: () => update({ live: "live" }),
    lost: () => update({ live: "reconnecting", notice: "Live updates interrupted. Reconnecting…" }),
    // The server's reason says why (revoked, expired, account switched off) and what to do.
    refused: (reason) => signOut(reason || "Your token is no longer valid. Sign in again."),
  });
  const staff = data.viewer.account.role === "HOSTING_STAFF";
  page = guardAll(staff ? staffActions(live) : districtActions(live));
  actions.page = page;
  update({ token: session.currentToken(), viewer: data.viewer, districts: data.districts, signInError: "" });
  await page.open();
}

async function signIn(token) {
  if (!token?.trim()) {
    update({ signInError: "Paste your API token." });
    return;
  }
  session.signIn(token);
  update({ busy: true });
  try {
    await start();
  } catch (error) {
    session.signOut();
    const message = error instanceof ApiError && error.code === "UNAUTHENTICATED"
      ? "That token is unknown, expired or revoked."
      : error.message;
    update({ signInError: message, token: null });
  } finally {
    update({ busy: false });
  }
}

function signOut(reason = "") {
  page?.close();
  live?.dispose();
  page = live = actions.page = null;
  closeDialog();
  session.signOut();
  update({ token: null, viewer: null, districts: [], district: null, districtId: null, requests: null, scheduleConflicts: null, rollouts: null,
           live: "off", notice: reason ? "" : "Signed out.", alert: "", signInError: reason });
  loadDemoAccounts();
}

async function loadDemoAccounts() {
  update({ demoAccounts: await session.demoAccounts() });
}

const actions = { signIn, signOut: () => signOut(), page: null };

function header(state) {
  const account = state.viewer?.account;
  return html`<header class="top">
    <p class="brand">Manage Updates</p>
    ${account
      ? html`<div class="who">
          <span>${account.name} · ${ROLE_WORDS[account.role]}</span>
          <span class="live live-${state.live}">
            <span aria-hidden="true">${state.live === "live" ? "●" : "○"}</span> Live updates: ${LIVE_WORDS[state.live]}
          </span>
          <button type="button" @click=${actions.signOut}>Sign out</button>
        </div>`
      : nothing}
  </header>`;
}

function view(state) {
  let body;
  if (!state.viewer) body = signInView(state, actions);
  else if (state.viewer.account.role === "HOSTING_STAFF") body = staffView(state, actions.page);
  else body = districtView(state, actions.page);
  return html`
    ${header(state)}
    <main id="main">
      <div role="status" class="notice">${state.notice}</div>
      <div role="alert" class="alert ${state.alert ? "" : "empty"}">${state.alert}</div>
      ${body}
    </main>
  `;
}

onUpdate((state) => {
  render(view(state), root);
  refreshDialog();
});

if (session.currentToken()) {
  signIn(session.currentToken());
} else {
  update();
  loadDemoAccounts();
}

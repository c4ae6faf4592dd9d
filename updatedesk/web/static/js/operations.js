// Every GraphQL operation the page sends, in one place: read this file to see how the API is
// meant to be used. Lists are newest first and paged with `first` / `after` (cursors).

// One request as the list, the staff queue and the live events all show it. Asking events for
// the same fields means an event can replace a row as it is.
const REQUEST_FIELDS = `
  fragment RequestFields on UpdateRequest {
    id kind status targetVersion preferredStart scheduledStart startedAt completedAt createdAt
    automatic notes statusMessage windowOverride canCancel canDelete
    district { id name }
    environment { id kind }
    requestedBy { name }
    progress { percent step message at }
    history { from to at message windowOverride by { name } }
  }`;

const PAGE = `
  totalCount
  pageInfo { hasNextPage endCursor }
  edges { node { ...RequestFields } }`;

// Who is signed in, their saved Hide Complete choice, and the districts they may act for
// (several for state, consortium, partner and ESA contacts: the District combobox).
export const VIEWER = `
  query Viewer {
    viewer { account { id name email role } preferences { hideCompleted } }
    districts { id name }
  }`;

// One district's sites, its next maintenance slots and the release catalog (for the form).
export const DISTRICT = `
  query District($id: ID!) {
    district(id: $id) {
      id name hostingModel timeZone
      updateGroup { name kind }
      environments {
        id kind url currentVersion versionUpdatedAt lastRefreshedAt online
        scheduledUpdates { id kind targetVersion scheduledStart }
      }
    }
    maintenanceWindows(districtId: $id, first: 3) { start end }
    releases { version }
  }`;

// The district's requests. No `hideCompleted` argument: the account's saved preference applies.
export const DISTRICT_REQUESTS = `
  query DistrictRequests($id: ID!, $first: Int!, $after: String) {
    district(id: $id) { updateRequests(first: $first, after: $after) { ${PAGE} } }
  }
  ${REQUEST_FIELDS}`;

// Hosting staff: the queue across every district, narrowed by status (null: every status).
export const QUEUE = `
  query Queue($statuses: [UpdateStatus!], $first: Int!, $after: String) {
    updateRequests(statuses: $statuses, hideCompleted: false, first: $first, after: $after) { ${PAGE} }
  }
  ${REQUEST_FIELDS}`;

// One more than the Schedule dialog offers: the first may be a slot in progress, which it leaves out.
export const MAINTENANCE_SLOTS = `
  query Slots($districtId: ID!) { maintenanceWindows(districtId: $districtId, first: 5) { start end } }`;

// Hosting staff: the pre-flight of a proposed start, before scheduling. Every conflict at once
// (a blackout, outside the window, a window too short, the site busy with other work), each
// with a message a person can act on, and the earliest start with none.
const CONFLICT_FIELDS = `
  code message
  blackout { reason start end }
  conflictingRequest { id kind targetVersion scheduledStart environment { kind } }`;

export const SCHEDULE_CHECK = `
  query ScheduleCheck($id: ID!, $start: DateTime!) {
    scheduleCheck(id: $id, start: $start) { conflicts { ${CONFLICT_FIELDS} } nextPossibleStart }
  }`;

// Hosting staff: scheduled work whose start now conflicts (a blackout or a window changed since
// it was scheduled). Nothing is moved until the work is due: staff reschedule it, or not.
export const SCHEDULE_CONFLICTS = `
  query ScheduleConflicts {
    scheduleConflicts {
      ${CONFLICT_FIELDS}
      updateRequest { ...RequestFields }
    }
  }
  ${REQUEST_FIELDS}`;

// Group rollouts, newest first (read-only here): hosting staff see all, state and consortium
// contacts those of their groups, everyone else none. Counts are per request status.
export const GROUP_ROLLOUTS = `
  query GroupRollouts {
    groupRollouts {
      id environment targetVersion status statusMessage waveSize maxFailures createdAt
      updateGroup { name kind }
      counts { status count }
      skipped { code message district { name } }
    }
  }`;

// Mutations answer with a payload: the changed object, and `errors` (business refusals, each
// with a code, a message for people, and the input field at fault) instead of throwing.
export const REQUEST_UPDATE = `
  mutation RequestUpdate($input: RequestUpdateInput!) {
    requestUpdate(input: $input) { updateRequest { ...RequestFields } errors { code message field } }
  }
  ${REQUEST_FIELDS}`;

export const CANCEL_REQUEST = `
  mutation Cancel($id: ID!) {
    cancelUpdateRequest(id: $id) { updateRequest { id status } errors { code message field } }
  }`;

export const DELETE_REQUEST = `
  mutation Delete($id: ID!) { deleteUpdateRequest(id: $id) { deletedId errors { code message field } } }`;

export const SET_PREFERENCES = `
  mutation Preferences($hideCompleted: Boolean!) { setPreferences(hideCompleted: $hideCompleted) { hideCompleted } }`;

export const SCHEDULE_REQUEST = `
  mutation Schedule($id: ID!, $start: DateTime!, $override: Boolean!) {
    scheduleUpdateRequest(id: $id, start: $start, overrideMaintenanceWindow: $override) {
      updateRequest { ...RequestFields } errors { code message field }
    }
  }
  ${REQUEST_FIELDS}`;

export const SET_STATUS = `
  mutation SetStatus($id: ID!, $status: UpdateStatus!, $message: String) {
    setUpdateRequestStatus(id: $id, status: $status, message: $message) {
      updateRequest { ...RequestFields } errors { code message field }
    }
  }
  ${REQUEST_FIELDS}`;

// Live events over WebSocket (graphql-transport-ws). `districtId` narrows the stream to one
// district; without it, every request the caller may see (hosting staff: all of them). `after`:
// the `cursor` of the last event handled, to resume after a drop (live.js).
export const REQUEST_EVENTS = `
  subscription RequestEvents($districtId: ID, $after: String) {
    updateRequestEvents(districtId: $districtId, after: $after) {
      type at cursor
      progress { percent step message at }
      updateRequest { ...RequestFields }
    }
  }
  ${REQUEST_FIELDS}`;

// Words and dates as people read them: the seed's status names, labels for the API's enums,
// dates in the viewer's time zone and in US Central time (the maintenance window's zone).

export const STATUS_WORDS = {
  TO_BE_SCHEDULED: "To Be Scheduled",
  SCHEDULED: "Scheduled",
  NOT_STARTED: "Not Started",
  IN_PROGRESS: "In Progress",
  COMPLETED: "Completed",
  PENDING_INPUT: "Pending Input",
  DEFERRED: "Deferred",
  NEW_VERSION_REQUESTED: "New Version Requested",
  UNABLE_TO_COMPLETE: "Unable to Complete",
  CANCELLED: "Cancelled",
};

// A symbol per status, so status never rests on colour alone (the word is always shown too).
export const STATUS_SYMBOLS = {
  TO_BE_SCHEDULED: "○",
  SCHEDULED: "◷",
  NOT_STARTED: "◔",
  IN_PROGRESS: "◑",
  COMPLETED: "✓",
  PENDING_INPUT: "!",
  DEFERRED: "‖",
  NEW_VERSION_REQUESTED: "↑",
  UNABLE_TO_COMPLETE: "✕",
  CANCELLED: "–",
};

export const KIND_WORDS = { VERSION_UPDATE: "Version update", DATABASE_REFRESH: "Database refresh" };

export const ENVIRONMENT_WORDS = {
  PRODUCTION: "Production",
  SANDBOX: "Sandbox",
  STAGING: "Staging",
  PREVIEW: "Preview",
};

export const ROLE_WORDS = {
  TECHNICAL_CONTACT: "Technical contact",
  STATE_CONTACT: "State contact",
  CONSORTIUM_CONTACT: "Consortium contact",
  PARTNER: "Partner",
  ESA: "ESA",
  VIEWER: "Viewer",
  HOSTING_STAFF: "Hosting staff",
};

export const ROLLOUT_WORDS = {
  RUNNING: "Running",
  PAUSED: "Paused",
  HALTED: "Halted",
  COMPLETED: "Completed",
  CANCELLED: "Cancelled",
};

// The pre-flight's conflict codes (scheduleCheck, scheduleConflicts), as staff read them.
export const CONFLICT_WORDS = {
  BLACKOUT: "Blackout",
  OUTSIDE_MAINTENANCE_WINDOW: "Outside the maintenance window",
  WINDOW_TOO_SHORT: "Maintenance window too short",
  ENVIRONMENT_BUSY: "Site busy with other work",
  VALIDATION: "Not possible",
};
// The only conflicts `overrideMaintenanceWindow: true` lifts; a blackout or a busy site never.
export const OVERRIDABLE_CONFLICTS = ["OUTSIDE_MAINTENANCE_WINDOW", "WINDOW_TOO_SHORT"];

export const CENTRAL_TIME_ZONE = "America/Chicago";
const VIEWER_TIME_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

function format(iso, timeZone) {
  return new Intl.DateTimeFormat(undefined, {
    weekday: "short",
    month: "short",
    day: "numeric",
    year: "numeric",
    hour: "numeric",
    minute: "2-digit",
    timeZone,
    timeZoneName: "short",
  }).format(new Date(iso));
}

/** The instant in the viewer's time zone. */
export function localTime(iso) {
  return iso ? format(iso, VIEWER_TIME_ZONE) : "";
}

/** The instant in US Central time, or "" when the viewer already is on Central time. */
export function centralTime(iso) {
  return iso && VIEWER_TIME_ZONE !== CENTRAL_TIME_ZONE ? format(iso, CENTRAL_TIME_ZONE) : "";
}

/** A `<input type="datetime-local">` value (viewer's zone) as an ISO instant with offset. */
export function fromLocalInput(value) {
  return value ? new Date(value).toISOString() : null;
}

/** An ISO instant as a `<input type="datetime-local">` value, in the browser's zone. */
export function toLocalInput(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const two = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}T${two(date.getHours())}:${two(date.getMinutes())}`;
}

/** Versions compare by their numbers ("Campus.2435.10" is newer than "Campus.2435.9"). */
export function compareVersions(a, b) {
  const numbers = (v) => v.split(".").slice(1).map(Number);
  const [x, y] = [numbers(a), numbers(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

// A paged list of requests (newest first) kept current by live events.

export const PAGE_SIZE = 10;

/** The list after one page of a GraphQL connection (appended to `previous` when given). */
export function fromConnection(connection, previous = null) {
  const fresh = connection.edges.map((edge) => edge.node);
  const known = new Set(previous?.rows.map((row) => row.id));
  return {
    rows: previous ? [...previous.rows, ...fresh.filter((row) => !known.has(row.id))] : fresh,
    totalCount: connection.totalCount,
    hasNextPage: connection.pageInfo.hasNextPage,
    endCursor: connection.pageInfo.endCursor,
  };
}

/**
 * The list after one live event. `shows(request)` says whether the list shows a request in its
 * new state (e.g. not a completed one while Hide Complete is on); `adds(request)` whether a
 * new one belongs at the top. Rows the list never loaded (later pages) are left alone.
 */
export function applyEvent(list, event, { shows, adds = shows }) {
  const request =
    event.type === "PROGRESS" && event.progress ? { ...event.updateRequest, progress: event.progress } : event.updateRequest;
  const index = list.rows.findIndex((row) => row.id === request.id);
  if (index < 0) {
    if (event.type !== "CREATED" || !adds(request)) return list;
    return { ...list, rows: [request, ...list.rows], totalCount: list.totalCount + 1 };
  }
  if (event.type === "REMOVED" || !shows(request)) {
    return { ...list, rows: list.rows.filter((row) => row.id !== request.id), totalCount: list.totalCount - 1 };
  }
  return { ...list, rows: list.rows.map((row) => (row.id === request.id ? request : row)) };
}

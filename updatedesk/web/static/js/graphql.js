// GraphQL over HTTP: POST /graphql with a JSON body and `Authorization: Bearer <token>`.
//
// Two kinds of failure come back differently, and a frontend handles them differently:
// - GraphQL errors (`errors` at the top level: no or bad token, malformed query, server fault)
//   are thrown here as ApiError; `code` is `extensions.code`, e.g. "UNAUTHENTICATED".
// - Business refusals of a mutation are data: the payload's `errors { code message field }`.
//   They are returned to the caller, who shows each next to the form field it names.

import { currentToken } from "./session.js";

export const GRAPHQL_PATH = "/graphql";

export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

/** Run one query or mutation; resolve with its `data`, or throw ApiError. */
export async function graphql(query, variables = {}) {
  let response;
  try {
    response = await fetch(GRAPHQL_PATH, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        Authorization: `Bearer ${currentToken()}`,
      },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError("The server cannot be reached. Check your connection and try again.", "NETWORK");
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`The server answered ${response.status} without a GraphQL result.`, "HTTP");
  }
  if (body.errors?.length) {
    const [first] = body.errors;
    throw new ApiError(first.message, first.extensions?.code ?? "GRAPHQL");
  }
  return body.data;
}

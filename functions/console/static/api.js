// The API on this origin, with the org API key kept in this tab's sessionStorage only.

const BASE = "/api/v1/integrations";
const KEY = "integrations.apiKey";

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }

  // What the page shows: the catalogue message; a 429 also says when to try again.
  describe() {
    if (this.status === 429 && this.retryAfter !== null) {
      const at = new Date(Date.now() + this.retryAfter * 1000);
      const clock = at.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
      return `${this.message}. Try again in ${this.retryAfter} seconds (at ${clock}).`;
    }
    return this.message;
  }
}

export const session = {
  key: () => sessionStorage.getItem(KEY),
  save: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

export async function call(method, path, { body, key } = {}) {
  const headers = { "X-API-Key": key ?? session.key() ?? "" };
  const init = { method, headers, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path, init);
  } catch {
    throw new ApiError(0, "network", "The service cannot be reached. Check your connection and try again", null);
  }
  if (response.status === 204) return null;
  const payload = await response.json().catch(() => null);
  if (!response.ok) {
    const error = payload?.error ?? {};
    const seconds = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
    throw new ApiError(response.status, error.code ?? "unknown", error.message ?? `Request failed (${response.status})`,
      Number.isFinite(seconds) ? seconds : null);
  }
  return payload;
}

const at = (org, provider = "") => `/${encodeURIComponent(org)}${provider ? `/${encodeURIComponent(provider)}` : ""}`;

export const api = {
  list: (org, key) => call("GET", at(org), { key }),
  get: (org, p) => call("GET", at(org, p)),
  form: (org, p) => call("GET", `${at(org, p)}/setup`),
  setup: (org, p, body) => call("POST", `${at(org, p)}/setup`, { body }),
  rotate: (org, p, body) => call("POST", `${at(org, p)}/rotate`, { body }),
  validate: (org, p) => call("POST", `${at(org, p)}/validate`),
  disable: (org, p) => call("POST", `${at(org, p)}/disable`),
  enable: (org, p) => call("POST", `${at(org, p)}/enable`),
  update: (org, p, body) => call("PATCH", at(org, p), { body }),
  remove: (org, p) => call("DELETE", at(org, p)),
  events: (org, p, cursor, limit = 10) =>
    call("GET", `${at(org, p)}/events?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`),
};

// The audit trail of one provider, newest first, a page at a time (next_cursor).

import { api } from "./api.js";
import { formatTime, h, newId, showError } from "./dom.js";

const PAGE = 10;

export async function eventsPanel(card) {
  const headingId = newId("events-title");
  const body = h("tbody");
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Show older events");
  const region = h("div", { class: "table-scroll", role: "region", "aria-labelledby": headingId, tabindex: "0" },
    h("table", { class: "events" },
      h("thead", {}, h("tr", {}, ...["When", "Action", "Outcome", "By", "Fingerprint", "Details"].map((t) => h("th", { scope: "col" }, t)))),
      body));
  const count = h("p", { class: "muted" });
  const panel = h("section", { class: "card-form", "aria-labelledby": headingId },
    h("h4", { id: headingId }, `Audit trail of ${card.displayName}`), count, region,
    h("div", { class: "form-actions" }, more, h("button", { type: "button", class: "secondary", onclick: () => card.close() }, "Close")));
  let cursor = null;
  let shown = 0;

  async function load() {
    const page = await api.events(card.org, card.provider, cursor, PAGE);
    for (const e of page.events) {
      body.append(h("tr", {},
        h("td", {}, formatTime(e.at)), h("td", {}, e.action),
        h("td", {}, e.outcome === "ok" ? "ok" : `refused: ${e.outcome}`),
        h("td", { class: "mono" }, e.actor), h("td", { class: "mono" }, e.fingerprint ?? ""),
        h("td", {}, describe(e.details))));
    }
    shown += page.events.length;
    cursor = page.next_cursor;
    more.hidden = !cursor;
    count.textContent = shown ? `${shown} event${shown === 1 ? "" : "s"} shown${cursor ? "; older ones follow" : ""}.` : "No events yet.";
  }

  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      await load();
    } catch (error) {
      showError(more.parentElement, error.describe?.() ?? String(error));
    } finally {
      more.disabled = false;
    }
  });
  await load();
  return panel;
}

function describe(details) {
  if (!details || typeof details !== "object") return "";
  return Object.entries(details)
    .filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join("; ");
}

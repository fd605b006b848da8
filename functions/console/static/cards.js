// One provider's card: its status in words, what is known of its credential, its actions, and
// a panel below them for the open form (connect, rotate, edit, delete, audit trail).

import { ApiError, api } from "./api.js";
import { announce, formatTime, h, newId, showError } from "./dom.js";
import { connectForm, deleteForm, editForm } from "./forms.js";
import { eventsPanel } from "./events.js";

export const STATUS_WORDS = {
  not_configured: "Not configured", pending: "Pending", validating: "Validating", active: "Active",
  error: "Error", disabled: "Disabled", expired: "Expired",
};
const ROTATION_WORDS = { pending: "pending", validating: "validating", failed: "failed" };
const IN_FLIGHT = new Set(["pending", "validating"]);

export function capabilityWords(capabilities, manual) {
  if (manual) return "Entered by hand (nothing is called)";
  if (!capabilities) return "Not shown yet (no successful validation)";
  const list = capabilities.join(", ");
  if (capabilities.includes("costs")) return `Reads costs (${list})`;
  if (capabilities.includes("inference")) return `Inference only (${list})`;
  return capabilities.length ? list : "Reads no costs (no capability shown)";
}

export function inFlight(integration) {
  return IN_FLIGHT.has(integration.status) || IN_FLIGHT.has(integration.rotation?.status);
}

export class Card {
  constructor(org, integration, { onChange, onRemoved }) {
    this.org = org;
    this.provider = integration.provider;
    this.manual = integration.category === "saas";
    this.onChange = onChange;
    this.onRemoved = onRemoved;
    this.titleId = newId("card-title");
    this.facts = h("div", { class: "facts" });
    this.actions = h("div", { class: "actions", role: "group", "aria-label": "Actions" });
    this.messages = h("div", { class: "card-messages" });
    this.panel = h("div", { class: "panel", hidden: true });
    this.badge = h("span", { class: "status" });
    this.title = h("h3", { id: this.titleId });
    this.element = h("article", { class: "card", id: `provider-${this.provider}`, "data-provider": this.provider,
      "aria-labelledby": this.titleId },
      h("header", { class: "card-head" }, this.title, this.badge),
      this.facts, this.actions, this.messages, this.panel);
    this.integration = null;
    this.update(integration, { quiet: true });
  }

  get displayName() {
    return this.displayNameValue;
  }

  update(integration, { quiet = false } = {}) {
    const before = this.integration;
    this.integration = integration;
    if (integration.status === "not_configured") this.displayNameValue = integration.name;
    this.displayNameValue ||= integration.name;
    this.title.textContent = this.displayNameValue;
    this.element.dataset.status = integration.status;
    this.badge.className = `status status-${integration.status}`;
    this.badge.textContent = STATUS_WORDS[integration.status] ?? integration.status;
    this.renderFacts();
    this.renderActions();
    if (!quiet) this.announceChange(before, integration);
    this.onChange?.(this);
  }

  announceChange(before, after) {
    const name = this.displayNameValue;
    if (!before || before.status !== after.status) {
      const message = after.status_message ? `: ${after.status_message}` : "";
      announce(`${name}: ${STATUS_WORDS[after.status] ?? after.status}${message}`);
    }
    const staged = before?.rotation;
    if (staged && IN_FLIGHT.has(staged.status)) {
      if (!after.rotation && after.credential?.version === staged.version) {
        announce(`${name}: rotation to version ${staged.version} succeeded`);
      } else if (after.rotation?.status === "failed") {
        announce(`${name}: rotation to version ${staged.version} failed: ${after.rotation.message ?? ""}`);
      }
    }
  }

  renderFacts() {
    const i = this.integration;
    const rows = [];
    const row = (term, value, cls) => rows.push(h("dt", {}, term), h("dd", { class: cls }, value));
    if (i.status === "not_configured") {
      this.facts.replaceChildren(h("p", { class: "muted" }, this.manual ? "No subscription entered." : "Not connected."));
      return;
    }
    if (i.name && i.name !== this.displayNameValue) row("Name", i.name);
    if (this.manual) {
      const c = i.config ?? {};
      row("Plan", `${c.plan ?? "?"}, ${c.seats ?? "?"} seats`);
      row("Cost", `${c.monthly_cost ?? "?"} ${c.currency ?? ""} per month, billed ${c.billing_cycle ?? "?"}`);
    } else {
      const cred = i.credential ?? {};
      row("Key", cred.hint ? `${cred.hint} (version ${cred.version})` : "none", "mono");
      row("Fingerprint", cred.fingerprint ?? "none", "mono");
      if (cred.expires_at) row("Expires", cred.expires_at);
      row("Capabilities", capabilityWords(i.capabilities, false));
      row("Last validation", formatTime(i.last_validated_at));
      const config = Object.entries(i.config ?? {}).filter(([, v]) => v !== null && v !== "");
      if (config.length) row("Config", config.map(([k, v]) => `${k}: ${v}`).join("; "), "mono");
    }
    const nodes = [h("dl", {}, ...rows)];
    if (i.status_message) {
      nodes.push(h("p", { class: `status-message status-message-${i.status}` },
        h("strong", {}, "Status message: "), i.status_message));
    }
    if (i.rotation) {
      const r = i.rotation;
      const word = ROTATION_WORDS[r.status] ?? r.status;
      nodes.push(h("p", { class: `rotation rotation-${r.status}` }, h("strong", {}, "Rotation: "),
        `version ${r.version} ${word}${r.status === "failed" ? "; the previous key stays in force" : ""}`,
        r.message ? ` (${r.message})` : ""));
    }
    this.facts.replaceChildren(...nodes);
  }

  renderActions() {
    const s = this.integration.status;
    const wanted = [];
    if (s === "not_configured") wanted.push(["connect", this.manual ? "Enter subscription" : "Connect"]);
    else {
      if (!this.manual && s !== "disabled") wanted.push(["validate", "Validate now"], ["rotate", "Rotate key"]);
      wanted.push(["edit", "Edit"]);
      wanted.push(s === "disabled" ? ["enable", "Enable"] : ["disable", "Disable"]);
      wanted.push(["events", "Audit trail"], ["delete", "Delete"]);
    }
    const signature = wanted.map(([a]) => a).join(",");
    if (this.actions.dataset.signature === signature) return; // keep focus where it is
    this.actions.dataset.signature = signature;
    this.actions.replaceChildren(...wanted.map(([action, label]) =>
      h("button", { type: "button", class: action === "delete" ? "danger" : action === "connect" ? "primary" : "secondary",
        "data-action": action, "aria-describedby": this.titleId, onclick: (e) => this.run(action, e.currentTarget) }, label)));
  }

  open(node, opener) {
    this.panel.replaceChildren(node);
    this.panel.hidden = false;
    this.opener = opener;
    node.querySelector("input:not([type=hidden]), select, textarea, button")?.focus();
  }

  close() {
    this.panel.replaceChildren();
    this.panel.hidden = true;
    const back = this.actions.querySelector(`[data-action="${this.opener?.dataset.action}"]`) ?? this.actions.querySelector("button");
    back?.focus();
  }

  async run(action, button) {
    const forms = { connect: () => connectForm(this, "setup"), rotate: () => connectForm(this, "rotate"),
      edit: () => editForm(this), delete: () => deleteForm(this), events: () => eventsPanel(this) };
    if (forms[action]) {
      try {
        this.open(await forms[action](), button);
      } catch (error) {
        this.fail(error);
      }
      return;
    }
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      this.update(await api[action](this.org, this.provider));
    } catch (error) {
      this.fail(error);
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }

  fail(error, anchor = this.messages) {
    if (!(error instanceof ApiError)) throw error;
    if (error.status === 401) return window.dispatchEvent(new CustomEvent("signed-out", { detail: error.message }));
    showError(anchor, error.describe());
  }

  removed() {
    this.onRemoved?.(this);
  }
}

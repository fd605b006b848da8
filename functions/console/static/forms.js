// The forms of a card: connect (setup) and rotate, drawn from the provider's setup form; edit
// (name and config, never the secret); delete after typing the provider's key.

import { ApiError, api } from "./api.js";
import { announce, clearErrors, h, newId, showError } from "./dom.js";
import { FieldError, configFields, credentialFields, field } from "./fields.js";

const forms = new Map(); // setup forms, per org and provider: they never change in a session

async function setupForm(card) {
  const key = `${card.org}/${card.provider}`;
  if (!forms.has(key)) forms.set(key, await api.form(card.org, card.provider));
  return forms.get(key);
}

// The control a server error is about: "Field 'config.seats' is invalid" names it; a format
// refusal is the credential's; anything else belongs to the form as a whole.
function anchorFor(form, error) {
  const named = /Field '([^']+)'/.exec(error.message)?.[1];
  const find = (name) => form.querySelector(`[data-field="${CSS.escape(name)}"]`);
  if (named) {
    const control = find(named) ?? find(named.split(".")[0]) ?? form.querySelector(`[data-field^="${CSS.escape(named.split(".")[0])}"]`);
    if (control) return control;
  }
  if (error.code === "invalid_format") return form.querySelector('[data-field^="credential"]') ?? form.querySelector(".form-actions");
  return form.querySelector(".form-actions");
}

function shell(title, intro, nodes, submitLabel, card, onSubmit) {
  const headingId = newId("form-title");
  const submit = h("button", { type: "submit", class: "primary" }, submitLabel);
  const form = h("form", { class: "card-form", "aria-labelledby": headingId, novalidate: true },
    h("h4", { id: headingId }, title), ...intro, ...nodes,
    h("div", { class: "form-actions" }, submit,
      h("button", { type: "button", class: "secondary", onclick: () => card.close() }, "Cancel")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    submit.disabled = true;
    submit.setAttribute("aria-busy", "true");
    try {
      await onSubmit(form);
    } catch (error) {
      if (error instanceof FieldError) {
        showError(error.control, error.message);
        error.control.focus();
      } else if (error instanceof ApiError) {
        if (error.status === 401) window.dispatchEvent(new CustomEvent("signed-out", { detail: error.message }));
        else showError(anchorFor(form, error), error.describe());
      } else {
        throw error;
      }
    } finally {
      submit.disabled = false;
      submit.removeAttribute("aria-busy");
    }
  });
  return form;
}

function guide(setup) {
  const nodes = [];
  if (setup.credential?.hint) nodes.push(h("p", { class: "hint" }, setup.credential.hint));
  if (setup.steps?.length) {
    nodes.push(h("details", { class: "steps" }, h("summary", {}, "How to get it"),
      h("ol", {}, ...setup.steps.map((step) => h("li", {}, step)))));
  }
  return nodes;
}

export async function connectForm(card, mode) {
  const setup = await setupForm(card);
  const rotating = mode === "rotate";
  const credential = credentialFields(setup);
  const config = rotating ? null : configFields(setup.config_schema);
  const name = h("input", { type: "text", name: "name", autocomplete: "off", maxlength: "200", "data-field": "name",
    placeholder: setup.display_name });
  const nodes = [...credential.nodes];
  if (!rotating) {
    nodes.unshift(field("Name (optional)", name));
    if (!config.empty) nodes.push(h("fieldset", {}, h("legend", {}, setup.credential?.kind === "none" ? "Subscription" : "Settings"), ...config.nodes));
  }
  const title = rotating ? `Rotate the ${setup.display_name} key`
    : setup.credential?.kind === "none" ? `Enter the ${setup.display_name} subscription` : `Connect ${setup.display_name}`;
  const intro = rotating
    ? [h("p", { class: "hint" }, "The new key is staged and validated; the current key stays in force until the new one is accepted.")]
    : guide(setup);
  return shell(title, intro, nodes, rotating ? "Rotate" : setup.credential?.kind === "none" ? "Save" : "Connect", card, async () => {
    const body = credential.read();
    if (!rotating) {
      const cfg = config.read();
      if (Object.keys(cfg).length) body.config = cfg;
      if (name.value.trim()) body.name = name.value.trim();
    }
    try {
      const integration = await (rotating ? api.rotate : api.setup)(card.org, card.provider, body);
      credential.clear();
      card.close();
      card.update(integration);
    } finally {
      credential.clear(); // submitted or refused, the secret leaves the page; the user types it again
    }
  });
}

// Key order does not make a config different (a change would validate the key again).
const stable = (value) => JSON.stringify(Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).sort()));

export async function editForm(card) {
  const current = card.integration;
  const setup = await setupForm(card);
  const name = h("input", { type: "text", name: "name", autocomplete: "off", maxlength: "200", "data-field": "name" });
  name.value = current.name ?? "";
  const config = configFields(setup.config_schema, current.config ?? {});
  const nodes = [field("Name", name)];
  if (!config.empty) nodes.push(h("fieldset", {}, h("legend", {}, card.manual ? "Subscription" : "Settings"), ...config.nodes));
  const intro = card.manual ? [] : [h("p", { class: "hint" }, "The key is kept as it is. A settings change validates it again.")];
  return shell(`Edit ${card.displayName}`, intro, nodes, "Save changes", card, async () => {
    const body = {};
    const wanted = name.value.trim();
    if (wanted && wanted !== current.name) body.name = wanted;
    const cfg = config.read();
    if (stable(cfg) !== stable(current.config ?? {})) body.config = cfg;
    if (!Object.keys(body).length) {
      card.close();
      announce("Nothing changed");
      return;
    }
    const integration = await api.update(card.org, card.provider, body);
    card.close();
    card.update(integration, { quiet: true });
    announce(`${card.displayName}: changes saved`);
  });
}

export function deleteForm(card) {
  const typed = h("input", { type: "text", name: "confirm", autocomplete: "off", spellcheck: "false", "data-field": "confirm" });
  const warning = h("p", { class: "hint" }, `The stored credential is destroyed; the audit trail is kept. Type ${card.provider} to confirm.`);
  const form = shell(`Delete ${card.displayName}`, [warning], [field(`Type ${card.provider} to confirm`, typed)],
    "Delete", card, async () => {
      if (typed.value.trim() !== card.provider) throw new FieldError(typed, `Type ${card.provider} exactly to delete`);
      await api.remove(card.org, card.provider);
      card.close();
      card.removed();
      announce(`${card.displayName} deleted`);
    });
  form.querySelector("button[type=submit]").className = "danger";
  return form;
}

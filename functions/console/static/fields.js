// The controls of a form, drawn from the setup form (GET /{org}/{provider}/setup): the
// credential by its kind, and config from its JSON Schema. Each builder returns
// { nodes, read(), clear() }; read() returns what goes into the request body or throws a
// FieldError naming the control at fault. Secrets live in the controls' values (or, for a key
// file, in this closure) until submit, and clear() empties them: never in an attribute.

import { announce, h, newId } from "./dom.js";

export class FieldError extends Error {
  constructor(control, message) {
    super(message);
    this.control = control;
  }
}

const LABELS = {
  plan: "Plan", seats: "Seats", monthly_cost: "Monthly cost", currency: "Currency (ISO 4217)",
  billing_cycle: "Billing cycle", billing_export_table: "Billing export table (project.dataset.table)",
  organization: "Organization ID (org-...)", project: "Project ID (proj_...)", scope: "Cost Management scope",
  cur_bucket: "Cost and Usage Report bucket", cur_prefix: "Report prefix",
};
const humanize = (key) => LABELS[key] ?? key.replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase());

// One labelled control in a .field block (errors attach there).
export function field(label, control, help) {
  control.id ||= newId("f");
  const nodes = [h("label", { for: control.id }, label)];
  if (help) {
    const helpNode = h("p", { class: "help", id: `${control.id}-help` }, help);
    control.setAttribute("aria-describedby", helpNode.id);
    nodes.push(helpNode);
  }
  return h("div", { class: "field" }, ...nodes, control);
}

function secretInput(name, required = true) {
  return h("input", { type: "password", name, autocomplete: "off", spellcheck: "false", required,
    "data-field": "credential", "data-secret": "true" });
}

function textInput(name, attrs = {}) {
  return h("input", { type: "text", name, autocomplete: "off", spellcheck: "false", ...attrs });
}

function required(control, message) {
  const value = control.value.trim();
  if (!value) throw new FieldError(control, message);
  return value;
}

function copyBlock(label, text) {
  const id = newId("copy");
  const value = h("pre", { class: "copy-value", id, tabindex: "0" }, h("code", {}, text));
  const button = h("button", { type: "button", class: "secondary small", "aria-describedby": id, onclick: async () => {
    try {
      await navigator.clipboard.writeText(text);
      announce(`${label} copied`);
      button.textContent = "Copied";
    } catch {
      announce("Copy is not available here: select the text and copy it");
    }
    setTimeout(() => { button.textContent = `Copy ${label.toLowerCase()}`; }, 2000);
  } }, `Copy ${label.toLowerCase()}`);
  return h("div", { class: "copy" }, h("div", { class: "copy-head" }, h("span", { class: "copy-label" }, label), button), value);
}

const pretty = (value) => (typeof value === "string" ? value : JSON.stringify(value, null, 2));

const KINDS = {
  api_key() {
    const key = secretInput("credential");
    return {
      nodes: [field("API key", key)],
      read: () => ({ credential: required(key, "Enter the API key") }),
      clear: () => { key.value = ""; },
    };
  },

  service_account() {
    let fileText = null; // the key file's content, read in the browser; never written into the page
    const status = h("p", { class: "help", "aria-live": "polite" });
    const file = h("input", { type: "file", accept: ".json,application/json", name: "key_file", "data-field": "credential" });
    const paste = h("textarea", { name: "credential", rows: "4", autocomplete: "off", spellcheck: "false",
      "data-field": "credential", "data-secret": "true" });
    file.addEventListener("change", () => {
      const chosen = file.files?.[0];
      fileText = null;
      status.textContent = "";
      if (!chosen) return;
      const reader = new FileReader();
      reader.onload = () => {
        fileText = String(reader.result);
        status.textContent = `Read ${chosen.name} (${chosen.size} bytes): it is sent when you submit.`;
      };
      reader.onerror = () => { status.textContent = "The file could not be read."; };
      reader.readAsText(chosen);
    });
    return {
      nodes: [
        field("Service account key file (JSON)", file),
        status,
        field("Or paste the key file's content", paste),
      ],
      read: () => {
        const text = (fileText ?? paste.value).trim();
        const anchor = fileText ? file : paste;
        if (!text) throw new FieldError(file, "Choose the key file or paste its content");
        let parsed;
        try { parsed = JSON.parse(text); } catch { throw new FieldError(anchor, "The key file is not valid JSON"); }
        if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
          throw new FieldError(anchor, "The key file must hold a JSON object");
        }
        return { credential: text };
      },
      clear: () => { fileText = null; paste.value = ""; file.value = ""; status.textContent = ""; },
    };
  },

  aws_role(form) {
    const arn = textInput("credential", { required: true, "data-field": "credential",
      placeholder: "arn:aws:iam::123456789012:role/cost-reader" });
    const aws = form.aws ?? {};
    const blocks = [
      ["External ID", aws.external_id], ["Platform principal", aws.principal_arn],
      ["Trust policy", aws.trust_policy], ["Permissions policy", aws.permissions_policy],
    ].filter(([, value]) => value !== undefined && value !== null).map(([label, value]) => copyBlock(label, pretty(value)));
    return {
      nodes: [
        h("div", { class: "aws" }, h("h4", {}, "Paste these into the role in AWS"), ...blocks),
        field("Role ARN", arn),
      ],
      read: () => ({ credential: required(arn, "Enter the role's ARN") }),
      clear: () => {},
    };
  },

  azure_service_principal() {
    const tenant = textInput("tenant_id", { required: true, "data-field": "credential.tenant_id" });
    const client = textInput("client_id", { required: true, "data-field": "credential.client_id" });
    const secret = secretInput("client_secret");
    secret.dataset.field = "credential.client_secret";
    const expires = h("input", { type: "date", name: "expires_at", required: true, "data-field": "expires_at" });
    return {
      nodes: [
        field("Tenant ID", tenant), field("Client ID", client), field("Client secret", secret),
        field("Secret expires on", expires, "Entra ID shows it beside the secret; you are warned before that day."),
      ],
      read: () => ({
        credential: {
          tenant_id: required(tenant, "Enter the tenant ID"),
          client_id: required(client, "Enter the client ID"),
          client_secret: required(secret, "Enter the client secret"),
        },
        expires_at: required(expires, "Enter the day the secret expires"),
      }),
      clear: () => { secret.value = ""; },
    };
  },

  none() {
    return { nodes: [], read: () => ({}), clear: () => {} };
  },
};

export function credentialFields(form) {
  const build = KINDS[form.credential?.kind];
  if (!build) return { nodes: [h("p", {}, "This provider's credential cannot be entered here.")], read: () => ({}), clear: () => {} };
  return build(form);
}

// Config controls from the JSON Schema: enum -> select, integer / number -> number, else text.
export function configFields(schema, current = {}) {
  const properties = schema?.properties ?? {};
  const needed = new Set(schema?.required ?? []);
  const controls = Object.entries(properties).map(([key, spec]) => {
    const attrs = { name: key, "data-field": `config.${key}`, required: needed.has(key) };
    let control;
    if (Array.isArray(spec.enum)) {
      control = h("select", attrs,
        needed.has(key) ? null : h("option", { value: "" }, "(none)"),
        ...spec.enum.map((v) => h("option", { value: v }, String(v))));
    } else if (spec.type === "integer" || spec.type === "number") {
      control = h("input", { ...attrs, type: "number", inputmode: spec.type === "integer" ? "numeric" : "decimal",
        step: spec.type === "integer" ? "1" : "any", min: spec.minimum, max: spec.maximum });
    } else {
      control = textInput(key, { ...attrs, maxlength: spec.maxLength });
    }
    if (current[key] !== undefined && current[key] !== null) control.value = String(current[key]);
    return { key, spec, control, required: needed.has(key) };
  });
  return {
    nodes: controls.map(({ key, control, required: req }) => field(req ? humanize(key) : `${humanize(key)} (optional)`, control)),
    read: () => {
      const config = {};
      for (const { key, spec, control, required: req } of controls) {
        const raw = control.value.trim();
        if (!raw) {
          if (req) throw new FieldError(control, `Enter ${humanize(key).toLowerCase()}`);
          continue;
        }
        if (spec.type === "integer" || spec.type === "number") {
          const number = Number(raw);
          if (!Number.isFinite(number) || (spec.type === "integer" && !Number.isInteger(number))) {
            throw new FieldError(control, `${humanize(key)} must be a ${spec.type === "integer" ? "whole " : ""}number`);
          }
          config[key] = number;
        } else {
          config[key] = raw;
        }
      }
      return config;
    },
    empty: controls.length === 0,
  };
}

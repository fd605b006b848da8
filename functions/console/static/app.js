// The settings pages: /{org}/settings/integrations (overview) and its /cloud, /llm and
// /subscriptions sections. One shell for all four; this module reads the path, asks for the
// org API key once per tab, and draws the providers of the section as cards.

import { ApiError, api, session } from "./api.js";
import { h, showError } from "./dom.js";
import { Card, STATUS_WORDS, inFlight } from "./cards.js";

const SECTIONS = [
  { key: "overview", path: "", title: "Overview", categories: ["cloud", "llm", "saas"] },
  { key: "cloud", path: "/cloud", title: "Cloud", categories: ["cloud"] },
  { key: "llm", path: "/llm", title: "LLM", categories: ["llm"] },
  { key: "subscriptions", path: "/subscriptions", title: "Subscriptions", categories: ["saas"] },
];
const CATEGORY_TITLES = { cloud: "Cloud providers", llm: "LLM providers", saas: "Subscriptions" };
const POLL_MS = 1000;

const match = /^\/([a-z0-9_]{3,50})\/settings\/integrations(?:\/(cloud|llm|subscriptions))?\/?$/.exec(location.pathname);
const org = match?.[1];
const section = SECTIONS.find((s) => s.key === (match?.[2] ?? "overview"));
const main = document.getElementById("main");
const cards = new Map();
const countLines = new Map(); // category -> its "n of m connected" line
let listing = []; // every provider of the org, for the counts of the navigation

function base() {
  return `/${org}/settings/integrations`;
}

function renderNav(integrations) {
  const nav = document.getElementById("nav");
  const count = (cats) => integrations ? integrations.filter((i) => cats.includes(i.category) && i.status !== "not_configured").length : null;
  nav.replaceChildren(h("ul", {}, ...SECTIONS.map((s) => {
    const n = count(s.categories);
    const total = integrations?.filter((i) => s.categories.includes(i.category)).length;
    return h("li", {}, h("a", { href: base() + s.path, "aria-current": s === section ? "page" : null },
      s.title, n === null ? null : h("span", { class: "count" }, ` ${n}/${total}`,
        h("span", { class: "sr-only" }, " connected"))));
  })));
}

function renderSession(signedIn) {
  const holder = document.getElementById("session");
  holder.replaceChildren(signedIn ? h("button", { type: "button", class: "secondary small", onclick: () => signOut() }, "Sign out") : "");
}

function signOut(message) {
  session.clear();
  cards.clear();
  renderSignIn(message);
}

function renderSignIn(message) {
  document.title = `Sign in · Integrations · ${org}`;
  renderNav(null);
  renderSession(false);
  const key = h("input", { id: "api-key", type: "password", name: "api_key", autocomplete: "off", spellcheck: "false", required: true });
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h("form", { class: "sign-in", "aria-labelledby": "sign-in-title", novalidate: true },
    h("h1", { id: "sign-in-title" }, "Sign in"),
    h("p", {}, `Enter the API key of ${org}. It is kept in this tab only and forgotten when the tab closes.`),
    h("div", { class: "field" }, h("label", { for: "api-key" }, "API key"), key),
    h("div", { class: "form-actions" }, button));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    form.querySelector(".error")?.remove();
    const value = key.value.trim();
    if (!value) return showError(key, "Enter the API key");
    button.disabled = true;
    try {
      const answer = await api.list(org, value);
      session.save(value);
      key.value = "";
      render(answer);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      showError(key, error.describe());
      key.focus();
    } finally {
      button.disabled = false;
    }
  });
  main.replaceChildren(form);
  if (message) showError(key, message);
  key.focus();
}

function summary(integrations) {
  const configured = integrations.filter((i) => i.status !== "not_configured");
  const byStatus = {};
  for (const i of configured) byStatus[i.status] = (byStatus[i.status] ?? 0) + 1;
  const words = Object.entries(byStatus).map(([s, n]) => `${n} ${STATUS_WORDS[s].toLowerCase()}`);
  return `${configured.length} of ${integrations.length} providers connected${words.length ? `: ${words.join(", ")}` : ""}.`;
}

function render(answer) {
  const integrations = answer.integrations;
  listing = integrations;
  document.title = `${section.title} · Integrations · ${org}`;
  renderNav(integrations);
  renderSession(true);
  cards.clear();
  countLines.clear();
  const shown = integrations.filter((i) => section.categories.includes(i.category));
  const heading = section.key === "overview" ? "Integrations" : CATEGORY_TITLES[section.categories[0]];
  const summaryLine = h("p", { class: "summary", id: "summary" }, summary(shown));
  const groups = section.categories.map((category) => {
    const members = shown.filter((i) => i.category === category);
    if (section.key === "overview") countLines.set(category, h("p", { class: "count-line" }));
    const titleId = `group-${category}`;
    const list = h("ul", { class: "cards" });
    for (const integration of members) {
      const card = new Card(org, integration, { onChange: () => changed(), onRemoved: (c) => reset(c) });
      cards.set(integration.provider, card);
      list.append(h("li", {}, card.element));
    }
    const title = section.key === "overview"
      ? h("h2", { id: titleId }, h("a", { href: base() + SECTIONS.find((s) => s.categories[0] === category && s.key !== "overview").path }, CATEGORY_TITLES[category]))
      : h("h2", { id: titleId, class: "sr-only" }, CATEGORY_TITLES[category]);
    return h("section", { class: "group", "aria-labelledby": titleId },
      h("div", { class: "group-head" }, title, countLines.get(category)),
      list);
  });
  main.replaceChildren(h("h1", {}, heading), summaryLine, ...groups);
  changed();
}

function changed() {
  const all = [...cards.values()].map((c) => c.integration);
  const line = document.getElementById("summary");
  if (line) line.textContent = summary(all);
  for (const [category, node] of countLines) {
    const members = all.filter((i) => i.category === category);
    node.textContent = `${members.filter((i) => i.status !== "not_configured").length} of ${members.length} connected`;
  }
  listing = listing.map((i) => cards.get(i.provider)?.integration ?? i);
  renderNav(listing);
  poll();
}

function reset(card) {
  card.update({ org, provider: card.provider, category: card.integration.category, name: card.displayName,
    status: "not_configured", credential: null, capabilities: null, rotation: null, config: null }, { quiet: true });
}

// While an integration is pending or validating (or its rotation is), follow it to its verdict.
let timer = null;
function poll() {
  if (timer || ![...cards.values()].some((c) => inFlight(c.integration))) return;
  timer = setTimeout(async () => {
    const waiting = [...cards.values()].filter((c) => inFlight(c.integration));
    await Promise.all(waiting.map(async (card) => {
      try {
        card.update(await api.get(org, card.provider));
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) signOut(error.message);
        else if (error instanceof ApiError && error.code === "not_configured") reset(card);
      }
    }));
    timer = null;
    if (session.key()) poll();
  }, POLL_MS);
}

async function start() {
  if (!org) {
    main.replaceChildren(h("h1", {}, "Not found"), h("p", {}, "This address names no settings page."));
    return;
  }
  document.getElementById("org").textContent = org;
  window.addEventListener("signed-out", (e) => signOut(e.detail));
  if (!session.key()) return renderSignIn();
  try {
    render(await api.list(org));
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return signOut(error.describe());
    main.replaceChildren(h("h1", {}, "Integrations"));
    showError(main, error instanceof ApiError ? error.describe() : String(error));
  }
}

start();

// Elements are built from text only (textContent, never an HTML string): nothing from an answer or a
// field is ever parsed as markup.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

let uid = 0;
export function newId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

// Polite announcements (role="status"): a status change, a copy, a finished action.
export function announce(text) {
  const live = document.getElementById("live");
  live.textContent = "";
  // a new text node after a tick, so that the same words twice are announced twice
  setTimeout(() => { live.textContent = text; }, 50);
}

// An error next to what caused it: role="alert" announces it; it stays until dismissed, and a
// newer error for the same place replaces it. `anchor` is the control (or block) it belongs to.
export function showError(anchor, message) {
  const holder = anchor.closest(".field") || anchor;
  holder.querySelector(":scope > .error")?.remove();
  const box = h("div", { class: "error", role: "alert" },
    h("p", { class: "error-text" }, message),
    h("button", { type: "button", class: "link", onclick: () => {
      box.remove();
      if (anchor.focus) anchor.focus();
    } }, "Dismiss"));
  if (anchor.id && (anchor.tagName === "INPUT" || anchor.tagName === "TEXTAREA" || anchor.tagName === "SELECT")) {
    const described = (anchor.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    box.id = `${anchor.id}-error`;
    if (!described.includes(box.id)) anchor.setAttribute("aria-describedby", [...described, box.id].join(" "));
    anchor.setAttribute("aria-invalid", "true");
  }
  holder.append(box);
  return box;
}

export function clearErrors(root) {
  for (const box of root.querySelectorAll(".error")) box.remove();
  for (const input of root.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

export function formatTime(value) {
  if (!value) return "never";
  const when = new Date(value);
  if (Number.isNaN(when.getTime())) return String(value);
  return when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

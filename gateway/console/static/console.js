// The Portcullis console's only script: refresh the overview's numbers, and ask before a button
// that cannot be undone. Served from the gateway (script-src 'self'); no inline script anywhere.
"use strict";

const REFRESH_MS = 5000;

function refresh(cards) {
  const url = cards.getAttribute("data-refresh");
  const tick = async () => {
    try {
      const answer = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } });
      if (answer.status === 401) {
        window.location.assign("login");
        return;
      }
      const numbers = await answer.json();
      for (const cell of cards.querySelectorAll("[data-metric]")) {
        const value = numbers[cell.getAttribute("data-metric")];
        cell.textContent = value === null || value === undefined ? "-" : String(value);
      }
      cards.classList.remove("stale");
    } catch (error) {
      cards.classList.add("stale");
    }
    window.setTimeout(tick, REFRESH_MS);
  };
  window.setTimeout(tick, REFRESH_MS);
}

function confirmBeforeSubmit(form) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-refresh]").forEach(refresh);
  document.querySelectorAll("form[data-confirm]").forEach(confirmBeforeSubmit);
});

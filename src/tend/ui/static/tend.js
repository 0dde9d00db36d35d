// tend's page: slider values shown as they move, and what the partner records appearing
// without a reload. Everything works without this file: plain forms and links.
"use strict";

function showSliders() {
  for (const slider of document.querySelectorAll("input[type=range][data-output]")) {
    const out = document.getElementById(slider.dataset.output);
    const tick = document.getElementById(slider.dataset.tick);
    slider.addEventListener("input", () => {
      if (out) out.textContent = slider.value;
      if (tick) tick.checked = true; // moving a slider means "note this"
    });
  }
}

// Forms someone has started to fill in: never swapped out from under them.
const typed = new WeakSet();

function markTyping() {
  document.addEventListener("input", (event) => {
    const form = event.target.closest && event.target.closest("form");
    if (form) typed.add(form);
  });
}

function busy(part) {
  const active = document.activeElement;
  if (active && part.contains(active) && active.matches("input, textarea, select")) return true;
  return Array.from(part.querySelectorAll("form")).some((form) => typed.has(form));
}

async function refresh(changed) {
  const parts = document.querySelectorAll("[data-live]");
  if (!parts.length && changed !== "status") return;
  // The header asks the page not to spend its one-time messages on this background read.
  const answer = await fetch(location.href, {
    credentials: "same-origin",
    headers: { "X-Tend-Live": "1" },
  });
  if (!answer.ok) return;
  const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
  let waiting = false;
  for (const part of parts) {
    if (!part.id) continue;
    const replacement = fresh.getElementById(part.id);
    if (!replacement || replacement.innerHTML === part.innerHTML) continue;
    if (busy(part)) { waiting = true; continue; }
    part.replaceWith(document.importNode(replacement, true));
  }
  const note = document.getElementById("live-note");
  if (note && waiting) {
    note.hidden = false;
    note.textContent = "Something new arrived. It will show once you have saved, or when you reload the page.";
  }
  const status = fresh.getElementById("sync-words");
  const mine = document.getElementById("sync-words");
  if (status && mine) mine.textContent = status.textContent;
}

function listen() {
  if (!("EventSource" in window)) return;
  const source = new EventSource("/events");
  source.addEventListener("change", (event) => {
    if (event.data === "closing") { source.close(); return; }
    refresh(event.data);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  showSliders();
  markTyping();
  listen();
});

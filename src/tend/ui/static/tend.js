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

function busy() {
  // Never swap a part while someone is typing in it or has changed a field in it.
  const active = document.activeElement;
  return active && active.closest("form") && active.matches("input, textarea, select");
}

async function refresh(changed) {
  const parts = document.querySelectorAll("[data-live]");
  if (!parts.length) return;
  if (busy()) {
    const note = document.getElementById("live-note");
    if (note) {
      note.hidden = false;
      note.textContent = "Something new arrived. It will show when you reload the page.";
    }
    return;
  }
  const answer = await fetch(location.href, { credentials: "same-origin" });
  if (!answer.ok) return;
  const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
  for (const part of parts) {
    if (!part.id) continue;
    const replacement = fresh.getElementById(part.id);
    if (replacement) part.replaceWith(document.importNode(replacement, true));
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
  listen();
});

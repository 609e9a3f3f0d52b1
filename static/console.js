// The journal page shows new mail-log events as they happen (server-sent events). Values are
// inserted as text, never as markup.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live");
  const table = document.getElementById("journal");
  if (!live || !table || !window.EventSource) return;
  const filter = live.dataset.filter || "";
  const source = new EventSource("/api/v1/journal/stream?filter=" + encodeURIComponent(filter));
  source.onmessage = (msg) => {
    const e = JSON.parse(msg.data);
    const row = table.insertRow(-1);
    row.insertCell().textContent = new Date(e.at).toLocaleString();
    row.insertCell().textContent = e.event;
    row.insertCell().textContent = e.fields.map(([k, v]) => k + "=" + v).join(" ");
  };
});

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

// The server form: choosing a preset fills host, port, CONN and AUTH from the option's data
// attributes (the page carries the presets; no inline script under the CSP) and shows what to
// type as the password. The fields stay editable: a preset only fills them.
document.addEventListener("DOMContentLoaded", () => {
  const preset = document.getElementById("preset");
  const advice = document.getElementById("preset-advice");
  if (!preset) return;
  const showAdvice = () => {
    const o = preset.selectedOptions[0];
    if (advice) advice.textContent = (o && o.dataset.advice) || "";
  };
  preset.addEventListener("change", () => {
    const o = preset.selectedOptions[0];
    if (o && o.value) {
      for (const f of ["host", "port", "conn", "auth"]) {
        const el = document.getElementById(f);
        if (el && o.dataset[f] !== undefined) el.value = o.dataset[f];
      }
    }
    showAdvice();
  });
  showAdvice();
});

// Forms that destroy something ask first (the question comes from the page, in its language).
document.addEventListener("submit", (e) => {
  const q = e.target.dataset && e.target.dataset.confirm;
  if (q && !window.confirm(q)) e.preventDefault();
});

// The Tester can take a few seconds: the button says it is running and cannot be pressed twice.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("tester-form");
  const button = document.getElementById("run-test");
  if (!form || !button) return;
  form.addEventListener("submit", () => {
    button.disabled = true;
    button.textContent = button.dataset.running || button.textContent;
  });
});

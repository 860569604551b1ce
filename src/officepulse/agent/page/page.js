// The settings page: asks the agent what it would send with the lists as typed (a
// moment after each change), and saves without leaving the page.
"use strict";
(() => {
  const form = document.getElementById("settings");
  if (!form) return;
  const output = document.getElementById("would-send");
  const probe = document.getElementById("probe");
  const saved = document.getElementById("saved");
  let timer = null;
  let asked = 0;

  function showErrors(errors) {
    for (const el of document.querySelectorAll("[data-error-for]")) {
      const text = errors[el.dataset.errorFor];
      el.textContent = text || "";
      el.hidden = !text;
    }
  }

  async function post(path) {
    const response = await fetch(path, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    return response.json();
  }

  async function preview() {
    const mine = ++asked;
    output.textContent = "looking…";
    output.dataset.state = "busy";
    try {
      const answer = await post("/preview");
      if (mine !== asked) return; // a newer change asked again
      showErrors(answer.errors || {});
      if (answer.would_send !== undefined) {
        output.textContent = answer.would_send;
        probe.textContent = answer.probe;
        output.dataset.state = "done";
      } else {
        output.textContent = "fix the fields marked above to see it";
        output.dataset.state = "errors";
      }
    } catch (err) {
      output.textContent = "the agent did not answer: " + err;
      output.dataset.state = "failed";
    }
  }

  form.addEventListener("input", () => {
    saved.hidden = true;
    clearTimeout(timer);
    timer = setTimeout(preview, 300);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await post("/save");
    showErrors(answer.errors || {});
    if (answer.saved) {
      saved.textContent = answer.saved;
      saved.hidden = false;
      document.getElementById("enroll_token").value = "";
    }
  });
  preview();
})();

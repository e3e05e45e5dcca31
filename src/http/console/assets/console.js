// itsm-bridge console: the little the pages need beyond HTML. Everything works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // The playground's "load the event from a file": the file's text goes into the textarea,
  // in the browser; nothing is uploaded until the form is sent.
  for (const input of document.querySelectorAll("input[type=file][data-fills]")) {
    input.addEventListener("change", () => {
      const file = input.files && input.files[0];
      const target = document.getElementById(input.dataset.fills);
      if (!file || !target) return;
      file.text().then((t) => { target.value = t; target.focus(); });
    });
  }
});

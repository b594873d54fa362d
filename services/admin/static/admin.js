// Small behaviours the console needs beyond htmx; loaded from /static (the CSP allows no
// inline script). The CSRF token travels in the hx-headers of <body>.
document.addEventListener("htmx:xhr:progress", function (event) {
  var form = event.target.closest ? event.target.closest("form[data-upload]") : null;
  if (!form || !event.detail.lengthComputable) { return; }
  var bar = form.querySelector("progress");
  var text = form.querySelector("[data-progress-text]");
  var percent = Math.round((event.detail.loaded / event.detail.total) * 100);
  if (bar) { bar.value = percent; bar.hidden = false; }
  if (text) { text.textContent = "Sending… " + percent + " %"; }
});

document.addEventListener("htmx:afterRequest", function (event) {
  var form = event.target.closest ? event.target.closest("form[data-upload]") : null;
  if (!form) { return; }
  var text = form.querySelector("[data-progress-text]");
  if (text) { text.textContent = event.detail.successful ? "Sent." : ""; }
});

// A network failure (server down, connection cut) would otherwise leave the page silent.
document.addEventListener("htmx:sendError", function (event) {
  var target = event.detail.target;
  if (target && target.tagName !== "TR" && target.dataset.keepOnError === undefined) {
    target.innerHTML = '<p class="notice error">The admin service did not answer. ' +
      "Check that it runs, then reload the page.</p>";
  }
});

// Plain (non-htmx) forms that destroy something ask first.
document.addEventListener("submit", function (event) {
  var message = event.target.dataset ? event.target.dataset.confirm : undefined;
  if (message && !window.confirm(message)) { event.preventDefault(); }
});

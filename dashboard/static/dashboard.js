// The log panel follows its newest line, as `tail -f` does, unless the reader has
// scrolled up to read something older.
(function () {
  var following = true;
  function log() { return document.getElementById("log"); }
  function atBottom(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 24; }
  document.addEventListener("DOMContentLoaded", function () {
    var el = log();
    if (el) { el.scrollTop = el.scrollHeight; }
  });
  document.addEventListener("htmx:beforeSwap", function () {
    var el = log();
    following = !el || atBottom(el);
  });
  document.addEventListener("htmx:afterSwap", function () {
    var el = log();
    if (el && following) { el.scrollTop = el.scrollHeight; }
  });
})();

// Uploads (objects, images): a form with the class "upload" is sent with XMLHttpRequest
// so that its <progress> shows how much of the file has gone; the page the dashboard
// answers with (a redirect, followed by the request) then replaces this one.
(function () {
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("upload")) { return; }
    var bar = form.querySelector("progress.upload-progress");
    if (!bar || !window.XMLHttpRequest || !window.FormData) { return; }
    event.preventDefault();
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    bar.hidden = false;
    bar.value = 0;
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { bar.value = Math.round(e.loaded * 100 / e.total); }
    });
    function failed(text) {
      bar.hidden = true;
      Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) { b.disabled = false; });
      var note = document.createElement("p");
      note.className = "error";
      note.setAttribute("role", "alert");
      note.textContent = text;
      form.appendChild(note);
    }
    xhr.addEventListener("load", function () {
      // Success and a refusal shown on the page both answer with a redirect to a page.
      if (xhr.status < 400 && xhr.responseURL && xhr.responseURL !== form.action) {
        bar.value = 100;
        window.location.assign(xhr.responseURL);
      } else {
        failed("The upload was refused (HTTP " + xhr.status + "): reload the page and try again.");
      }
    });
    xhr.addEventListener("error", function () {
      failed("The upload did not reach the dashboard: try again.");
    });
    Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) { b.disabled = true; });
    xhr.send(new FormData(form));
  });
})();

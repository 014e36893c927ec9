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

// Uploads (images, objects): a form with the class "upload", sent by htmx, has its
// progress bar follow the file's bytes as they leave the browser (htmx relays the
// request's upload progress events). Once every byte is sent, the cloud stores the file;
// the dashboard's answer moves the page on (HX-Redirect).
(function () {
  function upload(evt) {
    var form = evt.target;
    return form && form.classList && form.classList.contains("upload") ? form : null;
  }
  function bar(form) { return form.querySelector("progress"); }
  function state(form) { return form.querySelector(".upload-state"); }
  function button(form) { return form.querySelector("button[type=submit]"); }
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var form = upload(evt);
    if (!form) { return; }
    bar(form).value = 0;
    bar(form).hidden = false;
    state(form).textContent = "Sending the file…";
    button(form).disabled = true;
  });
  document.addEventListener("htmx:xhr:progress", function (evt) {
    var form = upload(evt), d = evt.detail;
    if (!form || !d.lengthComputable || !d.total) { return; }
    var share = Math.floor(d.loaded * 100 / d.total);
    bar(form).value = share;
    state(form).textContent = share < 100
      ? share + " % sent"
      : "Sent: the cloud is storing it (this page moves on when it is done)…";
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    var form = upload(evt);
    if (!form || evt.detail.successful) { return; }
    var xhr = evt.detail.xhr;
    state(form).textContent = xhr && xhr.status
      ? "The upload was refused (HTTP " + xhr.status + ")."
      : "The upload failed: the dashboard could not be reached.";
    bar(form).hidden = true;
    button(form).disabled = false;
  });
})();

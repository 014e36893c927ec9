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

// Images: the upload form's progress bar follows the file's bytes as they leave the
// browser (htmx relays the request's upload progress events). Once every byte is sent,
// the cloud stores the image; its answer moves the page on (HX-Redirect).
(function () {
  function part(id) { return document.getElementById(id); }
  function isUpload(evt) { return evt.target && evt.target.id === "image-upload"; }
  function button(form) { return form.querySelector("button[type=submit]"); }
  document.addEventListener("htmx:beforeRequest", function (evt) {
    if (!isUpload(evt)) { return; }
    var bar = part("upload-progress");
    bar.value = 0;
    bar.hidden = false;
    part("upload-state").textContent = "Sending the file…";
    button(evt.target).disabled = true;
  });
  document.addEventListener("htmx:xhr:progress", function (evt) {
    var d = evt.detail;
    if (!isUpload(evt) || !d.lengthComputable || !d.total) { return; }
    var share = Math.floor(d.loaded * 100 / d.total);
    part("upload-progress").value = share;
    part("upload-state").textContent = share < 100
      ? share + " % sent"
      : "Sent: the cloud is storing the image (this page moves on when it is done)…";
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    if (!isUpload(evt) || evt.detail.successful) { return; }
    var xhr = evt.detail.xhr;
    part("upload-state").textContent = xhr && xhr.status
      ? "The upload was refused (HTTP " + xhr.status + ")."
      : "The upload failed: the dashboard could not be reached.";
    part("upload-progress").hidden = true;
    button(evt.target).disabled = false;
  });
})();

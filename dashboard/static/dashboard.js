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

// hookstream console: the little it needs beyond htmx. No inline script
// anywhere (the Content-Security-Policy allows none).
"use strict";

// A form with data-confirm asks before it is sent.
document.addEventListener("submit", function (e) {
  var msg = e.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) {
    e.preventDefault();
  }
});

// A button with data-copy copies the text of the element it names.
document.addEventListener("click", function (e) {
  var id = e.target.getAttribute && e.target.getAttribute("data-copy");
  if (!id) {
    return;
  }
  var el = document.getElementById(id);
  if (el && navigator.clipboard) {
    navigator.clipboard.writeText(el.textContent).then(function () {
      e.target.textContent = "Copied";
    });
  }
});

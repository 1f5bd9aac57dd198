/* The IIIF URLs and the embed snippet of a page (viewer.py, share_html).

   The server writes them as paths of the site (it never trusts the host a
   request names: issue 23, H1); here they become absolute with the
   address the browser shows, since they are meant for copying into other
   sites and viewers. Copy buttons put a field's text on the clipboard,
   or, where the page may not write it, select the text for Ctrl+C. */
(function () {
  "use strict";

  function absolute(path) {
    return new URL(path, window.location.href).href;
  }

  function absolutize(root) {
    root.querySelectorAll("[data-zoomify-path]").forEach(function (el) {
      var path = el.getAttribute("data-zoomify-path");
      var full = absolute(path).replace(/\/$/, "");
      if (el.tagName === "A") {
        var manifest = full + "/manifest.json";
        el.href = manifest + "?manifest=" + encodeURIComponent(manifest);
      } else {
        // the path starts every URL of the field: put the site before it
        el.value = el.value.split(path + "/").join(full + "/");
      }
    });
  }

  function say(box, text) {
    var status = box && box.querySelector(".zoomify-copied");
    if (status) {
      status.textContent = text;
    }
  }

  function copy(button) {
    var field = document.getElementById(
      button.getAttribute("data-zoomify-copy"));
    var box = button.closest(".zoomify-share");
    if (!field) {
      return;
    }
    field.focus();
    field.select();
    var text = field.value;
    var done = function () { say(box, "Copied to the clipboard."); };
    var selected = function () {
      say(box, "Selected: press Ctrl+C (or \u2318+C) to copy.");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, selected);
    } else {
      var ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (e) {
        ok = false;
      }
      (ok ? done : selected)();
    }
  }

  function start() {
    document.querySelectorAll(".zoomify-share").forEach(function (box) {
      absolutize(box);
      box.addEventListener("click", function (event) {
        var button = event.target.closest("[data-zoomify-copy]");
        if (button) {
          copy(button);
        }
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());

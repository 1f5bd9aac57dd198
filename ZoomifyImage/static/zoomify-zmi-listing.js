/* The ZMI's folder listing: a thumbnail and the tiling status beside the
 * name of each Zoomify image (zmi_listing.py says why a script). Loaded
 * on every ZMI page of a folder; it acts only on the listing
 * (form#objectItems). While an image waits for or is being cut into
 * tiles, the status is asked again every few seconds.
 */
(function () {
  "use strict";
  var POLL_MS = 5000;

  function listingUrl() {
    // FOLDER/manage_main (or manage_workspace): the folder's own view
    var path = window.location.pathname.replace(/\/[^\/]*$/, "");
    return path + "/@@zoomify-listing";
  }

  function rowsById(form) {
    var rows = {};
    var boxes = form.querySelectorAll("input.checkbox-list-item");
    for (var i = 0; i < boxes.length; i++) {
      rows[boxes[i].value] = boxes[i].closest("tr");
    }
    return rows;
  }

  function show(row, facts) {
    var cell = row.querySelector("td.zmi-object-id");
    var link = cell && cell.querySelector("a");
    if (!link) {
      return;
    }
    var img = link.querySelector("img.zoomify-zmi-thumb");
    if (facts.thumbnail) {
      if (!img) {
        img = document.createElement("img");
        img.className = "zoomify-zmi-thumb";
        img.alt = "";  // the name beside it says what it is
        img.loading = "lazy";
        img.style.marginRight = "0.5rem";
        img.style.verticalAlign = "middle";
        link.insertBefore(img, link.firstChild);
      }
      if (img.getAttribute("src") !== facts.thumbnail) {
        img.width = facts.width;
        img.height = facts.height;
        img.src = facts.thumbnail;
      }
    }
    var badge = cell.querySelector(".zoomify-zmi-status");
    if (!badge) {
      badge = document.createElement("span");
      cell.appendChild(document.createTextNode(" "));
      cell.appendChild(badge);
    }
    var colours = {ready: "badge-success", failed: "badge-danger",
                   queued: "badge-warning", tiling: "badge-warning"};
    badge.className = "zoomify-zmi-status badge " +
      (colours[facts.status] || "badge-secondary");
    badge.setAttribute("data-status", facts.status);
    badge.textContent = facts.text;
  }

  function update(form) {
    var request = new XMLHttpRequest();
    request.open("GET", listingUrl());
    request.responseType = "json";
    request.onload = function () {
      if (request.status !== 200 || !request.response) {
        return;
      }
      var images = request.response.images || {};
      var rows = rowsById(form);
      var busy = false;
      Object.keys(images).forEach(function (id) {
        if (rows[id]) {
          show(rows[id], images[id]);
          busy = busy || images[id].status === "queued" ||
            images[id].status === "tiling";
        }
      });
      if (busy) {
        window.setTimeout(function () { update(form); }, POLL_MS);
      }
    };
    request.send();
  }

  function start() {
    var form = document.getElementById("objectItems");
    if (form && form.querySelector("input.checkbox-list-item")) {
      update(form);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());

/* Resumable uploads for the Zoomify Image add form and the Edit tab.
 *
 * A form with data-zoomify-upload="ENDPOINT" sends its chosen file with
 * tus-js-client to ENDPOINT (FOLDER/@@zoomify-upload for a new image,
 * IMAGE/@@zoomify-upload for a new file; see uploads.py) in chunks of
 * 16 MB, well under the 100 MB any one request may carry, with a progress
 * bar, Pause and Cancel. tus-js-client keeps the upload's URL in
 * localStorage under the file's name, size and date: after a reload the
 * same file, chosen again, goes on where the server stopped; after the
 * network drops the upload goes on when it is back.
 * The add form takes several files (chosen, or dropped on the form): each
 * is an upload of its own with its own progress line, one after the
 * other (a user may have ten unfinished uploads), each image's id its
 * file's name without the extension (made on the server). A file refused
 * says why on its line and the others go on.
 * Without JavaScript the form posts the file itself, up to the body limit.
 */
(function () {
  "use strict";
  var MB = 1024 * 1024;
  var CHUNK = 16 * MB;
  var SPEED_WINDOW = 10000;  // ms of samples behind the speed shown

  // binary units, as Zope's folder listing and the Edit tab write sizes
  function megabytes(bytes) {
    return (bytes / MB).toFixed(2) + " MiB";
  }

  function duration(seconds) {
    seconds = Math.round(seconds);
    if (seconds < 60) return seconds + " s";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min " +
      (seconds % 60) + " s";
    return Math.floor(seconds / 3600) + " h " +
      Math.floor(seconds % 3600 / 60) + " min";
  }

  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes).forEach(function (name) {
      node.setAttribute(name, attributes[name]);
    });
    if (text) node.textContent = text;
    return node;
  }

  // the list of the files being sent, under the form: a fresh one for
  // each Add
  function fileList(form) {
    var old = form.querySelector(".zoomify-upload-files");
    if (old) old.parentNode.removeChild(old);
    var list = element("div", {"class": "zoomify-upload-files"});
    form.appendChild(list);
    return list;
  }

  // one file's progress bar, status line and buttons (its name above
  // them when there are several)
  function panel(list, file, many) {
    var box = element("div", {"class": "zoomify-upload mt-3"});
    box.setAttribute("data-file", file.name);
    var progress = element("div", {"class": "progress",
      style: "height: 1.5rem"});
    var bar = element("div", {"class": "progress-bar", role: "progressbar",
      "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0",
      style: "width: 0%"});
    progress.appendChild(bar);
    var status = element("p", {"class": "zoomify-upload-status small mt-1",
      "aria-live": "polite"});
    var pause = element("button", {type: "button",
      "class": "btn btn-secondary btn-sm zoomify-upload-pause"}, "Pause");
    var cancel = element("button", {type: "button",
      "class": "btn btn-outline-danger btn-sm ml-2 zoomify-upload-cancel"},
      "Cancel");
    if (many) {
      box.appendChild(element("p", {"class": "zoomify-upload-name mb-1"},
        file.name));
      bar.setAttribute("aria-label", file.name);
    }
    [progress, status, pause, cancel].forEach(function (n) {
      box.appendChild(n);
    });
    pause.hidden = cancel.hidden = true;
    list.appendChild(box);
    return {box: box, bar: bar, status: status, pause: pause,
            cancel: cancel};
  }

  function setBar(ui, sent, total) {
    var percent = total ? Math.floor(sent * 100 / total) : 0;
    ui.bar.style.width = percent + "%";
    ui.bar.setAttribute("aria-valuenow", String(percent));
    ui.bar.textContent = percent + "%";
  }

  // did the user change any field of the form besides the file?
  function otherChanges(form, input) {
    return Array.prototype.some.call(form.elements, function (field) {
      if (field === input || field.type === "submit" ||
          field.type === "button") return false;
      if (field.tagName === "SELECT") {
        return Array.prototype.some.call(field.options, function (o) {
          return o.selected !== o.defaultSelected;
        });
      }
      return field.value !== field.defaultValue;
    });
  }

  function finished(form, input) {
    var done = form.getAttribute("data-zoomify-done");
    if (form.hasAttribute("data-zoomify-then-submit") &&
        otherChanges(form, input)) {
      // the Edit tab: the file is in; now save the other changes
      input.value = "";
      HTMLFormElement.prototype.submit.call(form);
    } else {
      window.location.href = done;
    }
  }

  // the Edit tab reloads itself every few seconds while tiles are cut:
  // not while a file is chosen or sent (stop() cancels a meta refresh)
  function stopRefresh() {
    if (document.querySelector("meta[http-equiv=refresh]")) window.stop();
  }

  // the fields the upload's metadata carries; with several files not the
  // id and the title (disabled then: each file names its own image)
  function fields(form, file) {
    var metadata = {filename: file.name};
    (form.getAttribute("data-zoomify-fields") || "").split(" ")
      .forEach(function (name) {
        var field = name && form.elements[name];
        if (field && !field.disabled && field.value) {
          metadata[name] = field.value;
        }
      });
    return metadata;
  }

  // Send one file; done(result) once it is over: {ok: true} when the
  // image has it, {ok: false} when it was refused for good or cancelled.
  // batch.stopped says the form is gone (the ZMI's dialog closed).
  function send(form, file, ui, many, batch, done) {
    var samples = [];
    var paused = false;
    var over = false;     // finished, refused for good or cancelled
    var sentNow = false;  // a chunk was sent by this page (not resumed done)
    var metadata = fields(form, file);

    function say(message) {
      ui.status.textContent = message;
    }

    // a sentence and a link after it, in the status line
    function sayWithLink(message, text, href) {
      say(message + " ");
      ui.status.appendChild(element("a", {href: href}, text));
    }

    // nothing more to do for this upload: no Pause/Resume
    function end(result) {
      if (over) return;
      over = true;
      ui.pause.hidden = true;
      if (many) ui.cancel.hidden = true;
      batch.current = null;
      done(result);
    }

    function setPaused(on) {
      paused = on;
      ui.pause.textContent = on ? "Resume" : "Pause";
      samples = [];
    }

    var upload = new window.tus.Upload(file, {
      endpoint: form.getAttribute("data-zoomify-upload"),
      chunkSize: parseInt(form.getAttribute("data-zoomify-chunk-size"), 10) ||
        CHUNK,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
      metadata: metadata,
      removeFingerprintOnSuccess: true,
      onAfterResponse: function (request, response) {
        if (request.getMethod() === "PATCH" &&
            response.getStatus() === 204) sentNow = true;
      },
      onProgress: function (sent, total) {
        var now = Date.now();
        samples.push([now, sent]);
        while (samples.length > 2 && now - samples[0][0] > SPEED_WINDOW) {
          samples.shift();
        }
        setBar(ui, sent, total);
        var text = megabytes(sent) + " of " + megabytes(total);
        var first = samples[0];
        var seconds = (now - first[0]) / 1000;
        if (seconds > 0.5 && sent > first[1]) {
          var speed = (sent - first[1]) / seconds;
          text += " \u00b7 " + megabytes(speed) + "/s \u00b7 " +
            duration((total - sent) / speed) + " left";
        }
        say(sent === total ? text + " \u00b7 adding the image\u2026" : text);
      },
      onSuccess: function (payload) {
        ui.pause.disabled = ui.cancel.disabled = true;
        var location = payload && payload.lastResponse &&
          payload.lastResponse.getHeader("X-Zoomify-Location");
        var path = location && new URL(location, window.location.href)
          .pathname;
        var id = path && decodeURIComponent(path.split("/").pop());
        if (!sentNow && id && metadata.id && id !== metadata.id) {
          // an earlier try sent it all and lost the last answer: the
          // image is there already, under the earlier try's id
          ui.cancel.hidden = true;
          sayWithLink("This file was already added as \u201c" + id +
            "\u201d (from an earlier try); the id and title given now " +
            "were not used.", "Open " + id, path + "/manage_main");
          end({ok: false, kept: true});
          return;
        }
        if (many && id) {
          sayWithLink("Added as", id, path + "/manage_main");
        } else {
          say("Uploaded " + megabytes(file.size) + ".");
        }
        end({ok: true});
      },
      onError: function (error) {
        setPaused(true);
        if (navigator.onLine === false) {
          say("The network is down; the upload goes on when it is back.");
          window.addEventListener("online", function again() {
            window.removeEventListener("online", again);
            if (paused && !over) {
              setPaused(false);
              upload.start();
            }
          });
          return;
        }
        var response = error.originalResponse;
        var reason = response && response.getStatus() < 500 &&
          response.getBody() ? response.getBody() : error.message;
        var status = response ? response.getStatus() : 0;
        var list = form.getAttribute("data-zoomify-uploads");
        var stopped = many ? "Not added: " : "The upload stopped: ";
        if (list && /unfinished upload/.test(reason)) {
          sayWithLink(stopped + reason,
            "See and cancel your unfinished uploads.", list);
        } else {
          say(stopped + reason);
        }
        if (status >= 400 && status < 500) {
          // refused for good (not an image, a taken id, a limit, no
          // permission): resuming cannot help; start afresh
          ui.box.classList.add("zoomify-upload-refused");
          ui.bar.classList.add("bg-danger");
          end({ok: false});
        }
      }
    });

    ui.pause.onclick = function () {
      if (paused) {
        setPaused(false);
        say("Resuming\u2026");
        upload.start();
      } else {
        setPaused(true);
        upload.abort();
        say("Paused at " + ui.bar.textContent + ".");
      }
    };
    ui.cancel.onclick = function () {
      setPaused(true);
      upload.abort(true);  // and DELETE it on the server
      if (many) {
        say("Cancelled.");
      } else {
        ui.box.parentNode.removeChild(ui.box);
      }
      end({ok: false, cancelled: true});
    };
    batch.current = function () {  // the form is gone: cancel it
      over = true;
      upload.abort(true);
    };

    ui.pause.hidden = ui.cancel.hidden = false;
    ui.pause.disabled = ui.cancel.disabled = false;
    setPaused(false);
    setBar(ui, 0, file.size);
    say("Starting\u2026");
    upload.findPreviousUploads().then(function (previous) {
      if (over) return;
      if (previous.length) {
        upload.resumeFromPreviousUpload(previous[0]);
        say("Resuming an earlier upload of this file\u2026");
      }
      upload.start();
    });
  }

  // Send the chosen files one after the other, each on its own line.
  function start(form, input, files) {
    stopRefresh();
    var many = files.length > 1;
    var list = fileList(form);
    var rows = files.map(function (file) {
      var ui = panel(list, file, many);
      if (many) ui.status.textContent = "Waiting\u2026";
      return ui;
    });
    var buttons = form.querySelectorAll("input[type=submit]");
    var batch = {current: null, stopped: false};
    var added = 0;

    function enable(on) {
      Array.prototype.forEach.call(buttons, function (b) {
        b.disabled = !on;
      });
      input.disabled = !on;
    }

    // the ZMI's dialog closed (its \u00d7, Escape) empties the dialog: an
    // upload nobody sees any more is cancelled, not left running, and
    // the files after it are not sent
    var watch = new MutationObserver(function () {
      if (form.isConnected) return;
      watch.disconnect();
      batch.stopped = true;
      if (batch.current) batch.current();
    });
    watch.observe(document.body, {childList: true, subtree: true});

    function next(index) {
      if (batch.stopped) return;
      if (index === files.length) {
        watch.disconnect();
        return over();
      }
      send(form, files[index], rows[index], many, batch, function (result) {
        if (result.ok) added += 1;
        next(index + 1);
      });
    }

    function over() {
      if (added === files.length) {
        finished(form, input);
        return;
      }
      enable(true);
      if (!many) return;
      // some refused: their lines say why; the others are in the folder
      var summary = element("p", {"class": "zoomify-upload-summary mt-3",
        role: "status"}, added + " of " + files.length + " files added; " +
        (files.length - added) + " not added (see above). ");
      summary.appendChild(element("a",
        {href: form.getAttribute("data-zoomify-done")}, "Open the folder"));
      list.appendChild(summary);
    }

    enable(false);
    next(0);
  }

  // several files chosen: the id and the title come from each file
  function chosen(form, input) {
    var many = input.files && input.files.length > 1;
    ["id", "title"].forEach(function (name) {
      var field = form.elements[name];
      if (field && form.getAttribute("data-zoomify-fields")) {
        field.disabled = many;
      }
    });
    var hint = form.querySelector(".zoomify-many-hint");
    if (hint) hint.hidden = !many;
  }

  // files dropped on the form are chosen as if picked in the file input
  // (one for an input that takes one)
  function takeDrops(form, input) {
    form.addEventListener("dragover", function (event) {
      if (!event.dataTransfer || input.disabled) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      form.classList.add("zoomify-drop-target");
      form.style.outline = "2px dashed #007bff";
    });
    form.addEventListener("dragleave", function (event) {
      if (!form.contains(event.relatedTarget)) {
        form.classList.remove("zoomify-drop-target");
        form.style.outline = "";
      }
    });
    form.addEventListener("drop", function (event) {
      form.classList.remove("zoomify-drop-target");
      form.style.outline = "";
      var dropped = event.dataTransfer && event.dataTransfer.files;
      if (!dropped || !dropped.length || input.disabled) return;
      event.preventDefault();
      var take = new DataTransfer();
      var count = input.multiple ? dropped.length : 1;
      for (var i = 0; i < count; i += 1) take.items.add(dropped[i]);
      input.files = take.files;
      input.dispatchEvent(new Event("change", {bubbles: true}));
    });
  }

  function setUp(form) {
    if (form.getAttribute("data-zoomify-ready")) return;
    form.setAttribute("data-zoomify-ready", "1");
    var input = form.querySelector("input[type=file]");
    if (!input || !window.tus || !window.tus.isSupported) return;
    if (input.hasAttribute("data-zoomify-many")) {
      input.multiple = true;
      var told = form.querySelector(".zoomify-many-ok");
      if (told) told.hidden = false;
    }
    input.addEventListener("change", stopRefresh);
    input.addEventListener("change", function () { chosen(form, input); });
    takeDrops(form, input);
    chosen(form, input);  // a reload may keep the files chosen
    form.addEventListener("submit", function (event) {
      var files = Array.prototype.slice.call(input.files || []);
      if (!files.length) return;  // nothing to upload: the plain form
      event.preventDefault();
      start(form, input, files);
    });
  }

  function setUpAll() {
    Array.prototype.forEach.call(
      document.querySelectorAll("form[data-zoomify-upload]"), setUp);
  }

  // the ZMI loads the add form into a dialog, after the page has loaded
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUpAll);
  } else {
    setUpAll();
  }
}());

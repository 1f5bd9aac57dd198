/* A small IIIF Authorization Flow 2.0 client (https://iiif.io/api/auth/2.0/)
   around OpenSeadragon: for an image service's info.json it probes,
   shows the substitute it is offered, offers the active access service
   (heading, note, confirm button), opens it in a new window with
   ?origin=, asks the token service in a hidden iframe (postMessage),
   probes again with the token and shows the full resolution, sending the
   token with every tile (Authorization: Bearer); "log out" opens the
   logout service, forgets the token and starts again.

   ZoomifyIIIFAuth.show(element, infoUrl, prefixUrl) -> a controller;
   element.dataset.state says "probing", "substitute", "full" or
   "denied" (what the tests wait for). */
(function () {
  "use strict";

  var AUTH_TYPES = ["external", "kiosk", "active"];  // the spec's order
  var counter = 0;

  function text(value) {
    // a language map: the first string of "en", "none" or any language
    if (!value) { return ""; }
    var keys = ["en", "none"].concat(Object.keys(value));
    for (var i = 0; i < keys.length; i++) {
      if (value[keys[i]] && value[keys[i]].length) {
        return value[keys[i]].join(" ");
      }
    }
    return "";
  }

  function services(doc, type) {
    return (doc.service || []).filter(function (s) {
      return s.type === type;
    });
  }

  function getJSON(url, token) {
    var headers = {Accept: "application/ld+json, application/json"};
    if (token) { headers.Authorization = "Bearer " + token; }
    return fetch(url, {headers: headers}).then(function (response) {
      if (!response.ok) { throw new Error(url + ": HTTP " + response.status); }
      return response.json();
    });
  }

  function infoOf(resource) {
    // a reference to an image service: its info.json
    var id = resource.id.replace(/\/$/, "");
    return /\/info\.json$/.test(id) ? id : id + "/info.json";
  }

  function Client(element, infoUrl, prefixUrl) {
    this.element = element;
    this.infoUrl = infoUrl;
    this.prefixUrl = prefixUrl;
    this.token = null;          // {value, expires, probe}
    this.viewer = null;
    this.panel = document.createElement("div");
    this.panel.className = "zoomify-auth-panel";
    this.stage = document.createElement("div");
    this.stage.className = "zoomify-auth-stage";
    this.stage.style.width = "100%";
    this.stage.style.height = element.dataset.height || "500px";
    element.appendChild(this.panel);
    element.appendChild(this.stage);
  }

  Client.prototype.state = function (name) {
    this.element.dataset.state = name;
  };

  Client.prototype.start = function () {
    var self = this;
    this.state("probing");
    return getJSON(this.infoUrl).then(function (info) {
      self.info = info;
      var probes = services(info, "AuthProbeService2");
      if (!probes.length) { return self.display(info, null, "full"); }
      return self.probe(probes[0]);
    }).catch(function (error) { self.fail("Cannot show the image",
                                          String(error)); });
  };

  Client.prototype.validToken = function () {
    return this.token && this.token.expires > Date.now() ?
      this.token.value : null;
  };

  Client.prototype.probe = function (probe) {
    var self = this;
    var token = this.validToken();
    return getJSON(probe.id, token).then(function (result) {
      if (result.status === 200) {
        return self.display(self.info, token, "full", probe);
      }
      if (result.status >= 300 && result.status < 400 && result.location) {
        return getJSON(infoOf(result.location)).then(function (info) {
          return self.display(info, null, "full", probe);
        });
      }
      if (token) { self.token = null; }   // it did not help: forget it
      var access = self.accessService(probe);
      if (result.status === 401 && result.substitute &&
          result.substitute.length) {
        return getJSON(infoOf(result.substitute[0])).then(function (info) {
          self.display(info, null, "substitute", probe);
          self.offer(access, probe, result);
        });
      }
      self.clearViewer();
      self.state("denied");
      self.offer(access, probe, result);
    });
  };

  Client.prototype.accessService = function (probe) {
    var all = services(probe, "AuthAccessService2");
    for (var i = 0; i < AUTH_TYPES.length; i++) {
      for (var j = 0; j < all.length; j++) {
        if (all[j].profile === AUTH_TYPES[i]) { return all[j]; }
      }
    }
    return null;
  };

  Client.prototype.clearViewer = function () {
    if (this.viewer) { this.viewer.destroy(); this.viewer = null; }
    this.stage.innerHTML = "";
  };

  Client.prototype.display = function (info, token, state, probe) {
    this.clearViewer();
    var options = {element: this.stage, prefixUrl: this.prefixUrl,
                   tileSources: [info], showNavigator: false,
                   crossOriginPolicy: "Anonymous"};
    if (token) {
      options.loadTilesWithAjax = true;
      options.ajaxHeaders = {Authorization: "Bearer " + token};
    }
    this.viewer = OpenSeadragon(options);
    this.shown = info;
    this.panel.innerHTML = "";
    if (state === "full" && probe) { this.offerLogout(probe); }
    this.state(state);
  };

  Client.prototype.paragraph = function (tag, value, className) {
    var node = document.createElement(tag);
    node.className = className;
    node.textContent = value;
    this.panel.appendChild(node);
    return node;
  };

  Client.prototype.offer = function (access, probe, result) {
    // the spec: heading and note MUST be shown before the access service
    // is opened; the probe's own heading/note win over the defaults
    var self = this;
    this.paragraph("h2", text(result.heading) || text(probe.errorHeading),
                   "zoomify-auth-heading");
    this.paragraph("p", text(result.note) || text(probe.errorNote),
                   "zoomify-auth-note");
    if (!access || access.profile !== "active") { return; }
    this.paragraph("p", text(access.heading), "zoomify-auth-access-heading");
    this.paragraph("p", text(access.note), "zoomify-auth-access-note");
    var button = this.paragraph("button", text(access.confirmLabel) ||
                                text(access.label), "zoomify-auth-login");
    button.type = "button";
    button.addEventListener("click", function () {
      var url = access.id + (access.id.indexOf("?") < 0 ? "?" : "&") +
        "origin=" + encodeURIComponent(window.location.origin);
      var opened = window.open(url, "_blank");
      self.element.dataset.accessOpened = "yes";
      self.whenClosed(opened, function () {
        self.askToken(access, probe);
      });
    });
  };

  Client.prototype.whenClosed = function (opened, then) {
    var timer = setInterval(function () {
      if (!opened || opened.closed) { clearInterval(timer); then(); }
    }, 100);
  };

  Client.prototype.tokenService = function (access) {
    return services(access, "AuthAccessTokenService2")[0];
  };

  Client.prototype.askToken = function (access, probe) {
    var self = this;
    var service = this.tokenService(access);
    var messageId = "zi" + (++counter) + "-" + Date.now();
    var frame = document.createElement("iframe");
    frame.style.display = "none";
    frame.title = "IIIF token service";
    var answered = false;
    // removed once its page has loaded (removing it when the message
    // comes, while it still loads, would abort its request)
    frame.addEventListener("load", function () {
      if (answered) { frame.remove(); }
    });
    function receive(event) {
      var data = event.data || {};
      if (event.source !== frame.contentWindow ||
          data.messageId !== messageId) {
        return;  // the spec: ignore messages we do not recognize
      }
      window.removeEventListener("message", receive);
      answered = true;
      if (data.accessToken) {
        self.token = {value: data.accessToken, probe: probe.id,
                      expires: Date.now() + 1000 * (data.expiresIn || 300)};
        self.probe(probe);
      } else {
        self.panel.innerHTML = "";
        self.paragraph("h2", text(data.heading) ||
                       text(service.errorHeading), "zoomify-auth-heading");
        self.paragraph("p", text(data.note) || text(service.errorNote),
                       "zoomify-auth-note");
        self.offer(access, probe, {});
      }
    }
    window.addEventListener("message", receive);
    frame.src = service.id + (service.id.indexOf("?") < 0 ? "?" : "&") +
      "messageId=" + encodeURIComponent(messageId) + "&origin=" +
      encodeURIComponent(window.location.origin);
    document.body.appendChild(frame);
  };

  Client.prototype.offerLogout = function (probe) {
    var self = this;
    var access = this.accessService(probe);
    var logout = access && services(access, "AuthLogoutService2")[0];
    if (!logout) { return; }
    var button = this.paragraph("button", text(logout.label),
                                "zoomify-auth-logout");
    button.type = "button";
    button.addEventListener("click", function () {
      // the spec: show the logout service in a window, forget the token
      var opened = window.open(logout.id, "_blank");
      self.token = null;
      self.whenClosed(opened, function () { self.start(); });
    });
  };

  Client.prototype.fail = function (heading, note) {
    this.clearViewer();
    this.panel.innerHTML = "";
    this.paragraph("h2", heading, "zoomify-auth-heading");
    this.paragraph("p", note, "zoomify-auth-note");
    this.state("denied");
  };

  window.ZoomifyIIIFAuth = {
    clients: {},
    show: function (element, infoUrl, prefixUrl) {
      var client = new Client(element, infoUrl, prefixUrl);
      this.clients[element.id] = client;
      client.start();
      return client;
    }
  };
})();

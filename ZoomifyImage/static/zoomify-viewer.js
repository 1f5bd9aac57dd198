/* Starts the OpenSeadragon viewers of ZoomifyImage embed snippets.
 *
 * Each snippet (ViewerMixin.tag in viewer.py) pushes its settings onto
 * window.zoomifyImageQueue and loads OpenSeadragon and this script once.
 * This script starts the queued viewers, and from then on starts each new
 * one as soon as it is pushed. The viewers are kept in
 * window.ZoomifyImage.viewers by the id of their element.
 */
(function () {
  "use strict";
  var OSD = window.OpenSeadragon;

  // OpenSeadragon's Zoomify source halves the tiers with floor (its
  // gridSize is right) but counts a level's tiles with the generic
  // ceil(W / 2^k / T): for 513x513, 2049x1025, ... that asks for edge
  // tiles that no correct Zoomify set has. Use the floor grid throughout.
  function useFloorGrid(source) {
    var grid = source.gridSize;
    source.getNumTiles = function (level) {
      var g = grid[level];
      return new OSD.Point(g.x, g.y);
    };
    // a point in the last fraction of a pixel of a level lies past the
    // floor grid: take the last tile instead of a phantom one
    var tileAtPoint = source.getTileAtPoint;
    source.getTileAtPoint = function (level, point) {
      var tile = tileAtPoint.call(this, level, point);
      var g = grid[level];
      tile.x = Math.max(0, Math.min(tile.x, g.x - 1));
      tile.y = Math.max(0, Math.min(tile.y, g.y - 1));
      return tile;
    };
    // the smallest tiers of a very thin image can have a zero side and
    // no tiles: never draw those levels
    var level = source.minLevel;
    while (level < source.maxLevel && !(grid[level].x && grid[level].y)) {
      level += 1;
    }
    source.minLevel = level;
  }

  function start(settings) {
    var viewer = OSD({
      id: settings.id,
      prefixUrl: settings.prefixUrl,
      tileSources: settings.iiif || zoomifySource(settings),
      // the canvas drawer also draws tiles from a tile-url on another
      // host without CORS headers, where WebGL may not
      drawer: "canvas",
      showNavigator: settings.navigator,
      showRotationControl: false,
      // keyboard (when the viewer has focus) and mouse-wheel zoom
      keyboardNavEnabled: true,
      gestureSettingsMouse: {scrollToZoom: true, clickToZoom: true},
      visibilityRatio: 0.5,
      crossOriginPolicy: false
    });
    describeKeys(viewer);
    window.ZoomifyImage.viewers[settings.id] = viewer;
    return viewer;
  }

  // the keys, told to whoever reaches the viewer by the keyboard: the
  // page's own line (the viewer page shows one, #zoomify-keys), else a
  // line of the viewer's that only screen readers read
  var KEYS = "Keyboard: + and \u2212 zoom, the arrow keys move, " +
    "0 shows the whole image.";

  function describeKeys(viewer) {
    var hint = document.getElementById("zoomify-keys");
    if (!hint) {
      hint = document.createElement("span");
      hint.id = viewer.element.id + "-keys";
      // hidden as .zoomify-hidden is, also where our style is not loaded
      hint.style.cssText = "position:absolute;width:1px;height:1px;" +
        "overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap";
      hint.textContent = KEYS;
      viewer.element.appendChild(hint);
    }
    viewer.canvas.setAttribute("aria-describedby", hint.id);
  }

  function zoomifySource(settings) {
    var source = new OSD.ZoomifyTileSource({
      width: settings.width,
      height: settings.height,
      tileSize: settings.tileSize,
      tilesUrl: settings.tilesUrl
    });
    useFloorGrid(source);
    // tilesUrl names the tile set (IMAGE/v/SET/); snippets copied before
    // it did name only the image, and the set is asked as ?v=version
    if (settings.version &&
        settings.tilesUrl.indexOf("/v/" + settings.version + "/") < 0) {
      var tileUrl = source.getTileUrl;
      source.getTileUrl = function (level, x, y) {
        return tileUrl.call(this, level, x, y) + "?v=" + settings.version;
      };
    }
    return source;
  }

  window.ZoomifyImage = window.ZoomifyImage || {viewers: {}};
  window.ZoomifyImage.start = start;
  var queue = window.zoomifyImageQueue = window.zoomifyImageQueue || [];
  queue.loading = true;
  while (queue.length) {
    start(queue.shift());
  }
  queue.push = function (settings) {
    start(settings);
    return 0;
  };
}());

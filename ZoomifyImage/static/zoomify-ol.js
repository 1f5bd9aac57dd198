/* OpenLayers and the Zoomify tiles of a ZoomifyImage.
 *
 * OpenLayers' Zoomify source with tierSizeCalculation 'truncated' builds
 * our tiers (halved with floor) and draws our tiles where they belong,
 * but its tile grid is the image's extent cut at powers of two: at a tier
 * whose floor-halved side just fills its last tile (513x513, 1025x1027,
 * 2049x1025, 4100x4100, 1537x200, ...) it has one more row or column of
 * cells, a fraction of a pixel wide, and asks for tiles that no correct
 * Zoomify set has (404). ZoomifyOL.source() gives it a tile URL function
 * that names only the cells of the floor grid: the others stay empty.
 *
 *   <link rel="stylesheet" href="/++resource++zoomifyimage/ol/ol.css">
 *   <script src="/++resource++zoomifyimage/ol/ol.js"></script>
 *   <script src="/++resource++zoomifyimage/zoomify-ol.js"></script>
 *   var source = ZoomifyOL.source({url: "IMAGE/", size: [width, height]});
 *   var map = ZoomifyOL.map("map", source);
 *
 * url is the image's tiles_url(), which names its tile set and ends with
 * a slash; version, if given, is added to each tile's URL as ?v=... (for
 * a url that does not name the set, such as the image's own URL with a
 * slash). Every other option is the Zoomify source's. Needs the full
 * build of OpenLayers (window.ol).
 */
(function () {
  "use strict";

  // our tiers, smallest first: full size halved with floor until one
  // tile holds it, as ZoomifyImage.pyramid.Layout; a tier with a zero
  // side (a very thin image) has no tiles
  function floorGrid(width, height, tileSize) {
    var grid = [];
    for (;;) {
      grid.push(width && height ? [Math.ceil(width / tileSize),
                                   Math.ceil(height / tileSize)] : [0, 0]);
      if (width <= tileSize && height <= tileSize) {
        break;
      }
      width = Math.floor(width / 2);
      height = Math.floor(height / 2);
    }
    return grid.reverse();
  }

  function source(options) {
    var ol = window.ol;
    var tileSize = options.tileSize || 256;
    var settings = Object.assign({}, options, {
      tierSizeCalculation: "truncated",
      url: options.url + "{TileGroup}/{z}-{x}-{y}.jpg" +
        (options.version ? "?v=" + encodeURIComponent(options.version) : "")
    });
    delete settings.version;
    var zoomify = new ol.source.Zoomify(settings);
    var grid = floorGrid(options.size[0], options.size[1], tileSize);
    var tileUrl = zoomify.getTileUrlFunction();
    zoomify.setTileUrlFunction(function (coord, pixelRatio, projection) {
      var cells = coord && grid[coord[0]];
      if (!cells || coord[1] < 0 || coord[2] < 0 ||
          coord[1] >= cells[0] || coord[2] >= cells[1]) {
        return undefined;  // not a tile of the set: nothing to ask for
      }
      return tileUrl(coord, pixelRatio, projection);
    });
    return zoomify;
  }

  // a map in the element (or its id) that shows the whole image
  function map(target, tileSource, options) {
    var ol = window.ol;
    var extent = tileSource.getTileGrid().getExtent();
    var view = new ol.View(Object.assign({
      resolutions: tileSource.getTileGrid().getResolutions(),
      extent: extent,
      constrainOnlyCenter: true
    }, options || {}));
    var result = new ol.Map({
      target: target,
      layers: [new ol.layer.Tile({source: tileSource})],
      view: view
    });
    view.fit(extent);
    return result;
  }

  window.ZoomifyOL = {source: source, map: map, floorGrid: floorGrid};
})();

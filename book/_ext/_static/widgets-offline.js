// Loaded after require.js and before the ipywidgets HTML manager (book/_ext/offline_assets.py).
(function () {
  "use strict";
  // 1. The manager finds its icon fonts next to its AMD module's URL, which require.js resolves
  //    relative to the page: point the module at the local copy in _static/vendor/html-manager/.
  var here = document.currentScript.src.replace(/[?#].*$/, "").replace(/[^\/]*$/, "");
  window.require.config({paths: {"@jupyter-widgets/html-manager/dist": here + "vendor/html-manager"}});

  // 2. The manager typesets widget text with the MathJax 2 API (MathJax.Hub.Queue); the book loads
  //    MathJax 3, where that call throws and leaves the widget's text empty. Give every object that
  //    becomes window.MathJax a Hub whose Queue typesets the element with the MathJax 3 API.
  function typeset(job) {
    var el = job && job[2], mj = window.MathJax;
    if (!el || !mj) return;
    if (mj.typesetPromise) {
      mj.typesetPromise([el]).catch(function () {});
    } else if (mj.startup && mj.startup.promise) {
      mj.startup.promise.then(function () { return window.MathJax.typesetPromise([el]); }).catch(function () {});
    }
  }
  function withHub(obj) {
    if (obj && typeof obj === "object" && !Object.prototype.hasOwnProperty.call(obj, "Hub")) {
      Object.defineProperty(obj, "Hub", {value: {Queue: typeset}, enumerable: false, configurable: true, writable: true});
    }
    return obj;
  }
  var current = withHub(window.MathJax);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    get: function () { return current; },
    set: function (value) { current = withHub(value); }
  });
})();

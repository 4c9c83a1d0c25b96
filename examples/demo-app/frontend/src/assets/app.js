// Demo single-page app: client-side routes (/ and /status) and the backend's version via /api/version.
(function () {
  "use strict";
  var view = document.getElementById("view");

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" } }).then(function (response) {
      if (!response.ok) { throw new Error(url + " answered " + response.status); }
      return response.json();
    });
  }

  function text(tag, content) {
    var el = document.createElement(tag);
    el.textContent = content;
    return el;
  }

  var routes = {
    "/": function () {
      view.replaceChildren(text("p", "Welcome. This demo stands in for the Intelligent Agent platform."));
    },
    "/status": function () {
      view.replaceChildren(text("p", "Asking the backend…"));
      getJSON("/api/info").then(function (info) {
        var list = document.createElement("ul");
        Object.keys(info).sort().forEach(function (key) { list.appendChild(text("li", key + ": " + info[key])); });
        view.replaceChildren(list);
      }).catch(function (err) { view.replaceChildren(text("p", "Backend unavailable: " + err.message)); });
    }
  };

  function render() { (routes[window.location.pathname] || routes["/"])(); }

  document.addEventListener("click", function (event) {
    var route = event.target.getAttribute && event.target.getAttribute("data-route");
    if (route) {
      event.preventDefault();
      window.history.pushState({}, "", route);
      render();
    }
  });
  window.addEventListener("popstate", render);

  getJSON("/api/version").then(function (v) {
    document.getElementById("backend-version").textContent = v.version + " (" + v.commit + ")";
  }).catch(function () {
    document.getElementById("backend-version").textContent = "unavailable";
  });
  render();
}());

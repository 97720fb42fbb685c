// Keeps what a person types into a request form in this browser tab (sessionStorage), so that a form
// that comes back can be filled again: the session ended while they wrote (idle timeout) and the login
// brought them back to the form, empty or as stored (a draft, an answer), or the tab reloaded. The key
// names the form and the person (a hash of the uid the page carries), so that someone else logging in
// at the same browser never gets it. Progressive enhancement: without
// JavaScript every form works as before; nothing leaves the browser; the tab's storage ends with it.
(function () {
  "use strict";
  var prefix = "freigabe:form:";
  // A page that confirms a saved or sent request: what was kept has arrived.
  if (document.querySelector("[data-clear-kept]")) {
    try {
      for (var i = sessionStorage.length - 1; i >= 0; i--) {
        var name = sessionStorage.key(i);
        if (name && name.indexOf(prefix) === 0) sessionStorage.removeItem(name);
      }
    } catch (ignored) {}
  }
  // A form that came back with errors: its summary at the top takes the focus, so that a screen reader
  // reads it out and the keyboard starts there (each entry links to its field).
  var summary = document.getElementById("form-errors") || document.getElementById("import-errors");
  if (summary) summary.focus();
  // Every form of the page that asks for text (a decision, a revocation's or a closing's reason, a
  // withdrawal's comment), each under its own key.
  Array.prototype.forEach.call(document.querySelectorAll("form[data-keep]"), keep);

  function keep(form) {
    var key = prefix + form.getAttribute("data-keep");
    function fields() {
      return Array.prototype.filter.call(form.elements, function (element) {
        return element.name && element.name.charAt(0) !== "_" && element.name !== "idempotency_key"
          && ["hidden", "password", "submit", "button"].indexOf(element.type) < 0;
      });
    }
    function save() {
      var values = {};
      fields().forEach(function (element) {
        if (element.type === "radio") {
          if (element.checked) values[element.name] = element.value;
        } else if (element.value) {
          values[element.name] = element.value;
        }
      });
      try { sessionStorage.setItem(key, JSON.stringify(values)); } catch (ignored) {}
    }
    // What the server rendered into a field (a draft's stored text, an answer form's details).
    function rendered(element) {
      if (element.tagName === "SELECT") {
        var chosen = Array.prototype.filter.call(element.options, function (option) {
          return option.defaultSelected;
        })[0] || element.options[0];
        return chosen ? chosen.value : "";
      }
      return element.defaultValue;
    }
    // Whether the field (a radio group as a whole) still shows what the server rendered.
    function untouched(element) {
      if (element.type === "radio") {
        return fields().every(function (other) {
          return other.name !== element.name || other.checked === other.defaultChecked;
        });
      }
      return element.value === rendered(element);
    }
    var kept = null;
    try { kept = JSON.parse(sessionStorage.getItem(key) || "null"); } catch (ignored) {}
    if (kept && typeof kept === "object") {
      // Only into fields that still show what the server rendered: a form that comes back pre-filled (a
      // draft, an answer) gets what was typed over it, and nothing typed since the page loaded is lost.
      var restore = fields().filter(function (element) {
        return Object.prototype.hasOwnProperty.call(kept, element.name) && typeof kept[element.name] === "string"
          && untouched(element);
      });
      var changed = false;
      restore.forEach(function (element) {
        var value = kept[element.name];
        if (element.type === "radio") {
          if (element.checked !== (element.value === value)) changed = true;
          element.checked = element.value === value;
        } else if (element.value !== value) {
          element.value = value;
          changed = true;
        }
      });
      var notice = document.querySelector("[data-kept-notice]");
      if (notice && changed) notice.hidden = false;
    }
    form.addEventListener("input", save);
    form.addEventListener("change", save);
  }
})();

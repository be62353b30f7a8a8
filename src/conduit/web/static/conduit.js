/*
 * Conduit's web app: progressive enhancement only. Every page works without this script.
 *
 * The editor's tag input: without JavaScript the author types tags separated by commas or
 * spaces and the server reads the `tags` field. With it, Enter turns the typed word(s) into
 * tag pills, each carrying a hidden `tagList` input the server reads too, instead of
 * submitting the form; a pill's close icon (click, Enter or Space) removes it.
 *
 * Loaded with `defer` from /static/web/ (the page's CSP allows scripts from 'self' only).
 * Text from the user only ever reaches the page through textContent and input values.
 */
(function () {
  "use strict";

  var SEPARATORS = /[\s,]+/;

  function wordsOf(text) {
    return text.split(SEPARATORS).filter(function (word) {
      return word.length > 0;
    });
  }

  function enhanceTagInput(form) {
    var input = form.querySelector('input[name="tags"]');
    if (!input) {
      return;
    }
    var list = form.querySelector(".tag-list");
    if (!list) {
      list = document.createElement("div");
      list.className = "tag-list";
      input.insertAdjacentElement("afterend", list);
    }

    function hiddenInputs() {
      return Array.prototype.filter.call(
        form.querySelectorAll('input[type="hidden"]'),
        function (hidden) {
          return hidden.name === "tagList";
        }
      );
    }

    function hasTag(name) {
      return hiddenInputs().some(function (hidden) {
        return hidden.value === name;
      });
    }

    function addTag(name) {
      if (hasTag(name)) {
        return;
      }
      var pill = document.createElement("span");
      pill.className = "tag-default tag-pill";
      pill.setAttribute("data-tag", name);

      var close = document.createElement("i");
      close.className = "ion-close-round";
      close.setAttribute("role", "button");
      close.setAttribute("aria-label", "Remove tag " + name);
      close.setAttribute("tabindex", "0");

      var hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = "tagList";
      hidden.value = name;

      pill.appendChild(close);
      pill.appendChild(document.createTextNode(" " + name));
      pill.appendChild(hidden);
      list.appendChild(pill);
    }

    function tagOfPill(pill) {
      var name = pill.getAttribute("data-tag");
      return name !== null ? name : (pill.textContent || "").trim();
    }

    function removePill(pill) {
      var hidden = pill.querySelector('input[type="hidden"]');
      if (!hidden) {
        // A pill rendered by the server may keep its hidden input elsewhere in the form.
        var name = tagOfPill(pill);
        hidden = hiddenInputs().filter(function (candidate) {
          return candidate.value === name;
        })[0];
      }
      if (hidden && hidden.parentNode) {
        hidden.parentNode.removeChild(hidden);
      }
      if (pill.parentNode) {
        pill.parentNode.removeChild(pill);
      }
      input.focus();
    }

    function pillOfCloseIcon(target) {
      var close = target instanceof Element ? target.closest(".ion-close-round") : null;
      if (!close || !list.contains(close)) {
        return null;
      }
      return close.closest(".tag-pill");
    }

    input.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" || event.isComposing) {
        return;
      }
      event.preventDefault();
      wordsOf(input.value).forEach(addTag);
      input.value = "";
    });

    list.addEventListener("click", function (event) {
      var pill = pillOfCloseIcon(event.target);
      if (pill) {
        event.preventDefault();
        removePill(pill);
      }
    });

    list.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" && event.key !== " ") {
        return;
      }
      var pill = pillOfCloseIcon(event.target);
      if (pill) {
        event.preventDefault();
        removePill(pill);
      }
    });
  }

  function start() {
    var form = document.getElementById("article-form");
    if (form) {
      enhanceTagInput(form);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

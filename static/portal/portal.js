/* Partner portal behaviour on top of server-rendered pages (every action also works without JavaScript). */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function askLostReason(board) {
    var reason = window.prompt((board && board.dataset.lostPrompt) || "Reason?");
    return reason && reason.trim() ? reason.trim() : null;
  }

  function reloadBoard(board) {
    window.htmx.ajax("GET", board.dataset.url, { target: "#board", swap: "outerHTML" });
  }

  // Kanban: drag a card to another column; the server decides (transition table) and re-renders the board.
  function initBoard() {
    var board = document.getElementById("board");
    if (!board || !window.Sortable || !window.htmx) return;
    board.querySelectorAll(".cards[data-stage]").forEach(function (list) {
      if (list.dataset.sortable) return;
      list.dataset.sortable = "1";
      window.Sortable.create(list, {
        group: "deals",
        animation: 120,
        forceFallback: true, // mouse/touch events instead of native DnD: same behaviour on phones
        fallbackTolerance: 4,
        filter: "select, button, a, input, label",
        preventOnFilter: false,
        onEnd: function (evt) {
          if (evt.from === evt.to) return;
          var values = { stage: evt.to.dataset.stage };
          if (values.stage === "lost") {
            var reason = askLostReason(board);
            if (!reason) {
              reloadBoard(board);
              return;
            }
            values.reason = reason;
          }
          board.classList.add("board-busy");
          window.htmx.ajax("POST", evt.item.dataset.moveUrl, {
            target: "#board",
            swap: "outerHTML",
            values: values,
            headers: { "X-CSRFToken": csrfToken() },
          });
        },
      });
    });
  }

  document.addEventListener("DOMContentLoaded", initBoard);
  document.addEventListener("htmx:load", initBoard);
})();


// Interactive connectivity figures: pick a character (hover, click, arrow keys) and every
// earlier character of each model's row is shaded by its connectivity to that prediction.
(function () {
  "use strict";

  function percent(p) { return (100 * p).toFixed(1) + "%"; }

  function setup(figure) {
    var data = JSON.parse(figure.querySelector("script.figure-data").textContent);
    var last = data.chars.length - 1;
    var rows = data.models.map(function (model) {
      var selector = 'span.char[data-model="' + model.kind + '"]';
      return { model: model, chars: figure.querySelectorAll(selector) };
    });
    var panel = figure.querySelector(".predictions");

    function shade(row, t) {
      var weights = row.model.matrix[t];  // lower triangle: weights[i] for i <= t
      var max = Math.max.apply(null, weights);
      row.chars.forEach(function (span, i) {
        var a = i <= t && max > 0 ? weights[i] / max : 0;
        span.dataset.intensity = a.toFixed(4);
        span.style.backgroundColor = "rgba(" + row.model.rgb + "," + a.toFixed(3) + ")";
        span.classList.toggle("selected", i === t);
        span.classList.toggle("future", i > t);
      });
    }

    function predictions(t) {
      var status = document.createElement("div");
      status.className = "status";
      var read = data.chars.slice(Math.max(0, t - 40), t + 1).join("");
      status.textContent = "Character " + t + ": after reading \u201c" + (t > 40 ? "\u2026" : "") +
        read + "\u201d, the target word is \u201c" + data.targets[t] + "\u201d.";
      var columns = rows.map(function (row) {
        var column = document.createElement("div");
        column.className = "model-predictions";
        column.dataset.model = row.model.kind;
        var title = document.createElement("h4");
        title.textContent = row.model.label;
        var list = document.createElement("ol");
        row.model.top[t].forEach(function (pair) {
          var item = document.createElement("li");
          item.dataset.word = pair[0];
          item.dataset.prob = pair[1];
          if (pair[0] === data.targets[t]) { item.className = "target"; }
          item.textContent = pair[0] + " " + percent(pair[1]);
          var bar = document.createElement("span");
          bar.className = "bar";
          bar.style.width = (4 * pair[1]).toFixed(2) + "em";
          bar.style.backgroundColor = "rgb(" + row.model.rgb + ")";
          item.appendChild(bar);
          list.appendChild(item);
        });
        column.append(title, list);
        return column;
      });
      panel.replaceChildren.apply(panel, [status].concat(columns));
    }

    function select(t) {
      t = Math.max(0, Math.min(last, t));
      figure.dataset.selected = t;
      rows.forEach(function (row) { shade(row, t); });
      predictions(t);
    }

    function pointed(event) {
      var span = event.target.closest("span.char");
      if (span) { select(Number(span.dataset.pos)); }
      return span;
    }

    figure.addEventListener("mouseover", pointed);
    figure.addEventListener("click", function (event) {
      if (pointed(event)) { figure.focus(); }
    });
    figure.addEventListener("keydown", function (event) {
      var t = Number(figure.dataset.selected);
      var moves = { ArrowLeft: t - 1, ArrowRight: t + 1, Home: 0, End: last };
      if (event.key in moves) {
        event.preventDefault();
        select(moves[event.key]);
      }
    });
    select(data.initial);
  }

  document.querySelectorAll("figure.connectivity").forEach(setup);
})();

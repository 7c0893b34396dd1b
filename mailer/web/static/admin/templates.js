// The template pages' script (/admin/templates): the CodeMirror editor, the live preview as
// she types, the error line marked in the editor, the preview frames scaled to fit, and a
// confirmation before a rollback or reset. Without it the pages still work: the textarea
// is a textarea and the buttons post the form.
(function () {
  "use strict";

  const DEBOUNCE_MS = 600;

  // Rollback and reset ask first (the forms carry their question in data-confirm).
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

  // Each preview frame keeps its layout width (375 or 800 px: the mail's media queries
  // see that width) and is drawn smaller when its box is narrower, so the page never
  // scrolls sideways.
  function scaleFrames() {
    document.querySelectorAll(".frame[data-width]").forEach(function (box) {
      const frame = box.querySelector("iframe");
      if (!frame) return;
      const width = Number(box.dataset.width);
      const height = Number(frame.getAttribute("height")) || 720;
      box.style.width = "";
      const room = box.parentElement.clientWidth;
      const scale = Math.min(1, room / width);
      frame.style.transform = scale < 1 ? "scale(" + scale + ")" : "";
      box.style.width = Math.floor(width * scale) + 2 + "px";
      box.style.height = Math.ceil(height * scale) + 2 + "px";
      box.classList.add("scaled");
    });
  }
  window.addEventListener("resize", scaleFrames);
  scaleFrames();

  // The variables fold away on a narrow screen (they are beside the editor on a wide one).
  const variablesList = document.getElementById("variables-list");
  const variablesToggle = document.getElementById("variables-toggle");
  const narrow = window.matchMedia("(max-width: 59.99rem)");
  function showVariables(shown) {
    variablesList.hidden = !shown;
    variablesToggle.setAttribute("aria-expanded", String(shown));
    variablesToggle.textContent = shown ? variablesToggle.dataset.hide : variablesToggle.dataset.show;
  }
  function fitVariables() {
    variablesToggle.hidden = !narrow.matches;
    showVariables(!narrow.matches);
  }
  if (variablesList && variablesToggle) {
    variablesToggle.addEventListener("click", function () {
      showVariables(variablesList.hidden);
    });
    narrow.addEventListener("change", fitVariables);
    fitVariables();
  }

  const form = document.getElementById("template-form");
  if (!form) return;
  const textarea = form.querySelector("textarea[name=source]");
  const previewBox = document.getElementById("preview");
  const status = document.getElementById("preview-status");
  // Without the bundle the bare textarea stays, and "go to line" links jump to it.
  if (!textarea || !window.mailerEditor) return;

  let variables = [];
  try {
    variables = JSON.parse(textarea.dataset.variables || "[]");
  } catch (error) {
    variables = [];
  }
  let timer = null;
  let controller = null;
  let generation = 0;
  let problemLine = 0;
  const editor = window.mailerEditor.create(textarea, {
    variables: variables,
    onChange: function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, DEBOUNCE_MS);
      placeMarker();
    },
  });
  const view = editor.view;

  // The error's line, marked by a band over the editor's scroller (the bundle exposes no
  // decorations, so the band is placed from CodeMirror's own line geometry).
  const marker = document.createElement("div");
  marker.className = "cm-problem-line";
  marker.hidden = true;
  marker.setAttribute("aria-hidden", "true");
  view.scrollDOM.appendChild(marker);

  function placeMarker() {
    const doc = view.state.doc;
    if (!problemLine || problemLine > doc.lines) {
      marker.hidden = true;
      return;
    }
    view.requestMeasure({
      read: function () {
        const block = view.lineBlockAt(doc.line(problemLine).from);
        const scroller = view.scrollDOM.getBoundingClientRect();
        return { top: view.documentTop - scroller.top + view.scrollDOM.scrollTop + block.top, height: block.height };
      },
      write: function (where) {
        marker.style.top = where.top + "px";
        marker.style.height = Math.max(where.height, 4) + "px";
        marker.hidden = false;
      },
    });
  }
  view.scrollDOM.addEventListener("scroll", placeMarker, { passive: true });
  window.addEventListener("resize", placeMarker);

  function goToLine(number) {
    const doc = view.state.doc;
    if (!(number >= 1 && number <= doc.lines)) return;
    const line = doc.line(number);
    view.dispatch({ selection: { anchor: line.from, head: line.to }, scrollIntoView: true });
    view.focus();
  }

  // The error found by the last preview or save: marked, and linked to from its message.
  function showProblem(root, jump) {
    const problem = root.querySelector("[data-problem-line]");
    const template = problem && problem.dataset.problemTemplate;
    const line = problem ? Number(problem.dataset.problemLine) : 0;
    problemLine = line && (!template || template === form.dataset.template) ? line : 0;
    placeMarker();
    if (jump && problemLine) goToLine(problemLine);
  }

  function wireLineLinks(root) {
    (root || document).querySelectorAll("a.go-to-line").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        if (view) goToLine(Number(link.dataset.line));
      });
    });
  }

  async function refresh() {
    if (controller) controller.abort();
    controller = new AbortController();
    const mine = ++generation;
    const body = new FormData(form);
    body.set("source", editor.getValue());
    previewBox.setAttribute("aria-busy", "true");
    status.textContent = form.dataset.busy;
    try {
      const response = await fetch(form.dataset.previewUrl, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "HX-Request": "true" },
        signal: controller.signal,
      });
      const html = await response.text();
      if (mine !== generation) return;
      if (!response.ok || !html.includes("data-preview-ready")) throw new Error(String(response.status));
      previewBox.innerHTML = html;
      status.textContent = "";
      wireLineLinks(previewBox);
      showProblem(previewBox, false);
      scaleFrames();
    } catch (error) {
      if (error.name === "AbortError" || mine !== generation) return;
      status.textContent = form.dataset.failed;
      timer = window.setTimeout(refresh, DEBOUNCE_MS * 5);
    } finally {
      if (mine === generation) previewBox.removeAttribute("aria-busy");
    }
  }

  // The preview button asks now instead of reloading the page.
  const previewButton = document.getElementById("preview-button");
  if (previewButton) {
    previewButton.addEventListener("click", function (event) {
      event.preventDefault();
      window.clearTimeout(timer);
      refresh();
    });
  }

  wireLineLinks(document);
  // A save refused at a line: the page opens with the cursor on it.
  const saveProblem = document.getElementById("save-problem");
  if (saveProblem) showProblem(saveProblem.parentElement, true);
  else showProblem(previewBox, false);
  // The first preview comes without waiting for a keystroke.
  if (!previewBox.querySelector(".frames, [data-problem-line]")) refresh();
})();

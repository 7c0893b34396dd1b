// The staff template editor: CodeMirror 6 with HTML + Jinja highlighting, bundled by
// build.sh into mailer/web/static/vendor/codemirror.js as the global `mailerEditor`.
//
// The admin pages are server-rendered forms, so the editor enhances a <textarea>
// instead of replacing it: the textarea stays in the form (hidden) and is kept equal
// to the editor's text, so the form submits what the editor shows and a page without
// script still works with the bare textarea (issue 12: usable by keyboard alone).

import { EditorView, basicSetup } from "codemirror";
import { EditorState } from "@codemirror/state";
import { jinja } from "@codemirror/lang-jinja";
import { html } from "@codemirror/lang-html";

export { EditorView };

function labelFor(textarea) {
  if (textarea.getAttribute("aria-label")) {
    return { "aria-label": textarea.getAttribute("aria-label") };
  }
  const label = textarea.id && document.querySelector(`label[for="${CSS.escape(textarea.id)}"]`);
  if (label) {
    if (!label.id) label.id = `${textarea.id}-label`;
    return { "aria-labelledby": label.id };
  }
  return {};
}

// The extensions every editor gets: the basic setup (line numbers, history, search,
// bracket matching — Tab is left to move focus, so keyboard users can leave the
// editor), Jinja over HTML, and the textarea kept in step.
export function editorExtensions(textarea, options = {}) {
  const extensions = [
    basicSetup,
    jinja({ base: html(), variables: options.variables || [] }),
    EditorView.lineWrapping,
    EditorView.contentAttributes.of(labelFor(textarea)),
    EditorView.updateListener.of((update) => {
      if (!update.docChanged) return;
      const value = update.state.doc.toString();
      textarea.value = value;
      if (options.onChange) options.onChange(value);
    }),
  ];
  // CodeMirror injects its styles at run time; under a CSP with a style nonce the
  // page hands the nonce over so those styles are allowed.
  if (options.nonce) extensions.push(EditorView.cspNonce.of(options.nonce));
  if (options.readOnly) extensions.push(EditorState.readOnly.of(true));
  return extensions;
}

// Puts an editor in place of `textarea` (which stays in the form, hidden) and returns
// {view, getValue, setValue, destroy}.
export function create(textarea, options = {}) {
  const view = new EditorView({
    doc: textarea.value,
    extensions: editorExtensions(textarea, options),
  });
  textarea.parentNode.insertBefore(view.dom, textarea.nextSibling);
  textarea.hidden = true;
  return {
    view,
    getValue: () => view.state.doc.toString(),
    setValue(value) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: value } });
    },
    destroy() {
      view.destroy();
      textarea.hidden = false;
    },
  };
}

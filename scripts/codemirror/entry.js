// The CodeMirror 6 pieces the template editor uses, exposed as one global, `window.CM`
// (web/ui/static/editor.js reads it). Add an export here, then `npm run build`.
export {
  EditorView, keymap, lineNumbers, highlightActiveLineGutter, highlightSpecialChars,
  drawSelection, Decoration, MatchDecorator, ViewPlugin, GutterMarker, lineNumberMarkers,
} from "@codemirror/view";
export { EditorState, RangeSet, StateEffect, StateField } from "@codemirror/state";
export {
  bracketMatching, indentOnInput, syntaxHighlighting, HighlightStyle, LRLanguage,
} from "@codemirror/language";
export { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
export { autocompletion, completionKeymap } from "@codemirror/autocomplete";
export { setDiagnostics, lintKeymap } from "@codemirror/lint";
export { tags } from "@lezer/highlight";
// The bare HTML grammar (its own highlighting inside), without lang-html's nested CSS and
// JavaScript parsers: MJML and email HTML need neither, and they would add a third.
export { parser as htmlParser } from "@lezer/html";

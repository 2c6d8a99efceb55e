// The CodeMirror 6 pieces the template editor uses, exposed as one global, `window.CM`
// (web/ui/static/editor.js reads it). Add an export here, then `npm run build`.
export {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
  highlightSpecialChars, drawSelection, dropCursor, placeholder, Decoration, MatchDecorator,
  ViewPlugin, GutterMarker, lineNumberMarkers,
} from "@codemirror/view";
export { EditorState, Compartment, RangeSet, StateEffect, StateField } from "@codemirror/state";
export {
  bracketMatching, indentOnInput, syntaxHighlighting, defaultHighlightStyle, LRLanguage,
} from "@codemirror/language";
export { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
export {
  autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap, startCompletion,
} from "@codemirror/autocomplete";
export { setDiagnostics, lintKeymap } from "@codemirror/lint";
// The bare HTML grammar (its own highlighting inside), without lang-html's nested CSS and
// JavaScript parsers: MJML and email HTML need neither, and they would triple the bundle.
export { parser as htmlParser } from "@lezer/html";

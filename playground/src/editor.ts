/**
 * The schedule editor: CodeMirror 6 with ditto highlighting (a stream tokenizer over the language's
 * own keyword list) and a linter whose diagnostics are the checker's, placed at their spans.
 */
import { EditorView, basicSetup } from 'codemirror';
import { EditorState } from '@codemirror/state';
import { StreamLanguage, type StringStream } from '@codemirror/language';
import { linter, lintGutter, type Diagnostic as CmDiagnostic } from '@codemirror/lint';
import { KEYWORDS } from '../../grammar/tokens.ts';
import type { Diagnostic } from '../../grammar/diagnostics.ts';

const ditto = StreamLanguage.define<{ inBlock: boolean }>({
  name: 'ditto',
  startState: () => ({ inBlock: false }),
  token(stream: StringStream, state) {
    if (state.inBlock) {
      if (stream.skipTo('*/')) {
        stream.match('*/');
        state.inBlock = false;
      } else stream.skipToEnd();
      return 'comment';
    }
    if (stream.eatSpace()) return null;
    if (stream.match('//')) {
      stream.skipToEnd();
      return 'comment';
    }
    if (stream.match('/*')) {
      state.inBlock = true;
      return 'comment';
    }
    if (stream.match(/^"(?:[^"\\]|\\.)*"?/)) return 'string';
    if (stream.match(/^\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/)) return 'number';
    const word = stream.match(/^[A-Za-z_][A-Za-z0-9_]*/) as RegExpMatchArray | null;
    if (word) return KEYWORDS.has(word[0]) ? 'keyword' : 'variableName';
    if (stream.match(/^(==|!=|<=|>=|->|[-+*/%<>=!])/)) return 'operator';
    stream.next();
    return 'punctuation';
  },
  languageData: { commentTokens: { line: '//', block: { open: '/*', close: '*/' } } },
});

function toCm(d: Diagnostic, docLength: number): CmDiagnostic {
  const from = Math.min(Math.max(0, d.span?.start ?? 0), docLength);
  const to = Math.min(Math.max(from + 1, d.span?.end ?? from + 1), docLength);
  const extra = [d.expected ? `expected: ${d.expected}` : '', d.suggestion ? `help: ${d.suggestion}` : '', ...(d.notes ?? [])].filter(Boolean);
  return { from, to: Math.max(from, to), severity: d.severity, source: d.code, message: [d.message, ...extra].join('\n') };
}

export interface EditorHooks {
  /** Called (debounced) with the text; returns the diagnostics that belong to it. */
  check: (text: string) => Diagnostic[] | Promise<Diagnostic[]>;
  onChange: (text: string) => void;
}

export function createEditor(parent: HTMLElement, text: string, hooks: EditorHooks): EditorView {
  return new EditorView({
    parent,
    state: EditorState.create({
      doc: text,
      extensions: [
        basicSetup,
        ditto,
        lintGutter(),
        linter(async (view) => {
          // CodeMirror drops the result if the text changed meanwhile; spans refer to this text.
          const doc = view.state.doc;
          return (await hooks.check(doc.toString())).map((d) => toCm(d, doc.length));
        }, { delay: 300 }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) hooks.onChange(u.state.doc.toString());
        }),
      ],
    }),
  });
}

export function setEditorText(view: EditorView, text: string): void {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}

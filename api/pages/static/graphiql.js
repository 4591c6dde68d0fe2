// Starts GraphiQL on /graphql with the docs explorer and the explorer plugin. A file, not an inline
// script, so that the page's Content-Security-Policy allows scripts from this origin only.
// `?q=` (the catalog's example links) fills the editor; `?variables=` the variables. Headers
// (an `Authorization: Bearer ...` token) are not persisted: a token belongs in memory, not in
// localStorage.
(function () {
  'use strict';
  var params = new URLSearchParams(window.location.search);
  var fetcher = GraphiQL.createFetcher({ url: window.location.pathname });
  var explorer = GraphiQLPluginExplorer.explorerPlugin();
  function App() {
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: [explorer],
      defaultQuery: params.get('q') || '{\n  datasets {\n    name\n    title\n    license\n  }\n}\n',
      variables: params.get('variables') || undefined,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
    });
  }
  var root = document.getElementById('graphiql');
  ReactDOM.createRoot(root).render(React.createElement(App));

  // WCAG 2.1 (label): CodeMirror's input textareas have no name; say which editor each one is.
  var french = document.documentElement.lang === 'fr';
  var names = french
    ? { query: 'Requête', response: 'Réponse', tools: ['Variables', 'En-têtes'], other: 'Éditeur' }
    : { query: 'Query', response: 'Response', tools: ['Variables', 'Headers'], other: 'Editor' };
  function label() {
    root.querySelectorAll('.CodeMirror textarea:not([aria-label])').forEach(function (area) {
      var name = names.other;
      var tool = area.closest('.graphiql-editor-tool > .graphiql-editor');
      if (area.closest('.graphiql-query-editor')) {
        name = names.query;
      } else if (area.closest('.graphiql-response')) {
        name = names.response;
      } else if (tool) {
        name = names.tools[Array.prototype.indexOf.call(tool.parentNode.children, tool)] || name;
      }
      area.setAttribute('aria-label', name);
    });
    // WCAG 2.1 (scrollable-region-focusable): a long query or answer scrolls; the keyboard must
    // reach the region to scroll it (CodeMirror's input sits outside it, and it sets -1)
    root.querySelectorAll('.CodeMirror-scroll:not([tabindex="0"])').forEach(function (region) {
      region.setAttribute('tabindex', '0');
    });
  }
  new MutationObserver(label).observe(root, { childList: true, subtree: true });
})();

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
  ReactDOM.createRoot(document.getElementById('graphiql')).render(React.createElement(App));
})();

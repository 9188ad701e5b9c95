// nunjucks/src/transformer.js, which the Jinja2 layer (src/render/jinja2/) imports by path: the
// package ships typings for its index only.
declare module 'nunjucks/src/transformer.js' {
  const transformer: { transform(ast: unknown, asyncFilters: unknown, name: string): unknown };
  export default transformer;
}

// The console's own CSS modules (`*.module.css`: class names made local by css-loader).
declare module '*.module.css' {
  const classes: Record<string, string>;
  export default classes;
}

import { TypographyStylesProvider } from '@mantine/core';
import Markdown, { defaultUrlTransform } from 'react-markdown';
import remarkGfm from 'remark-gfm';

/**
 * An extension's README, rendered from Markdown. react-markdown builds React elements from the
 * Markdown syntax tree and never renders raw HTML (`skipHtml`: a `<script>` or `<img onerror>` in
 * the README is dropped, never injected), and its URL filter drops `javascript:` and other unsafe links — so
 * there is no HTML string to sanitize. Relative links and images point into the extension's
 * public assets (only the icon, screenshots and frontend are served there). GitHub's tables,
 * task lists and strikethrough by remark-gfm, as READMEs are written for GitHub.
 */
export function Readme({ text, assetsBase }: { text: string; assetsBase?: string }) {
  const transform = (url: string) => {
    const safe = defaultUrlTransform(url);
    if (!assetsBase || !safe || /^[a-z][a-z0-9+.-]*:|^\/|^#/i.test(safe)) return safe;
    return `${assetsBase}${safe.replace(/^\.\//, '')}`;
  };
  return (
    <TypographyStylesProvider data-testid="extension-readme">
      <Markdown
        skipHtml
        remarkPlugins={[remarkGfm]}
        urlTransform={transform}
        components={{ a: ({ node: _node, href, ...props }) => <a {...props} href={href || undefined} target="_blank" rel="noopener noreferrer" /> }}
      >
        {text}
      </Markdown>
    </TypographyStylesProvider>
  );
}

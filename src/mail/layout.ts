/** The shared frame of our emails: a plain, table-free HTML document with inline styles (mail clients drop <style>). */
import { Html, html, type HtmlPart } from './html';

export const STYLE = {
  body: 'font-family:Segoe UI,Arial,sans-serif;font-size:14px;color:#222;line-height:1.45',
  table: 'border-collapse:collapse;margin:6px 0 14px',
  cell: 'border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top',
  code: 'font-family:Consolas,monospace;font-size:13px',
  button:
    'display:inline-block;padding:10px 18px;background:#0f6cbd;color:#fff;text-decoration:none;border-radius:4px;font-weight:600',
};

export function document(title: string, content: HtmlPart): string {
  return html`<!DOCTYPE html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <title>${title}</title>
      </head>
      <body style="${STYLE.body}">
        ${content}
      </body>
    </html>`.value;
}

/** A small table; every cell is escaped unless it is Html. */
export function table(headers: string[], rows: HtmlPart[][]): Html {
  return html`<table style="${STYLE.table}">
    <tr>
      ${headers.map((h) => html`<th style="${STYLE.cell}">${h}</th>`)}
    </tr>
    ${rows.map(
      (r) =>
        html`<tr>
          ${r.map((c) => html`<td style="${STYLE.cell}">${c}</td>`)}
        </tr>`,
    )}
  </table>`;
}

export const code = (text: string | undefined): Html => html`<code style="${STYLE.code}">${text ?? ''}</code>`;

/**
 * The two pieces of markup that differ between an email and a page: emails style every element inline (mail clients
 * drop <style>), pages must not (their CSP allows only their own stylesheet, and a style attribute is inline style:
 * W3C CSP3, "style-src"). Shared renderers such as the approval plan take one of these.
 */
export interface Markup {
  table(headers: string[], rows: HtmlPart[][]): Html;
  code(text: string | undefined): Html;
}

export const EMAIL_MARKUP: Markup = { table, code };

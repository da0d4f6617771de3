/**
 * What both demos do over HTTP: call the product's API with the function key, and act on an emailed link like a
 * person (GET the page, which decides nothing, then POST its form with the decision).
 */
import type { LocalStack } from '../sandbox/stack';

export async function api(stack: LocalStack, method: string, path: string, body?: unknown) {
  const res = await fetch(`${stack.host.baseUrl}${path}`, {
    method,
    headers: { 'x-functions-key': stack.host.functionKey, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, body: json, text };
}

/** GET the emailed page, then POST its form with `decision`; the statuses of both answers. */
export async function decideThroughLink(link: string, decision: string): Promise<{ page: number; decided: number }> {
  const page = await fetch(link);
  const cookie = (page.headers.getSetCookie?.() ?? []).map((c) => c.split(';')[0]).join('; ');
  const form = await page.text();
  const action = /<form[^>]*action="([^"]+)"/i.exec(form)?.[1]?.replace(/&amp;/g, '&');
  if (!action) throw new Error(`the page of ${new URL(link).pathname} has no form (answered ${page.status})`);
  const fields = new URLSearchParams();
  for (const m of form.matchAll(/<input[^>]*type="hidden"[^>]*>/gi)) {
    const name = /name="([^"]+)"/.exec(m[0])?.[1];
    const value = /value="([^"]*)"/.exec(m[0])?.[1];
    if (name) fields.set(name, (value ?? '').replace(/&amp;/g, '&'));
  }
  fields.set('decision', decision);
  const target = new URL(action, link);
  const decided = await fetch(target, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, origin: target.origin },
    body: fields.toString(),
    redirect: 'manual',
  });
  return { page: page.status, decided: decided.status };
}

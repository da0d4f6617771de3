/**
 * The Teams alert card shows text that comes from outside the product: a drift finding quotes the live value of a
 * ServiceNow column (anyone with write access to the shared instance sets it), a failed check quotes the service's
 * error. A TextBlock's text and a FactSet's values are Markdown in Teams, links included
 * (https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/cards-format), so such text would
 * put a clickable link of the other party's choosing into the operators' channel. A RichTextBlock's TextRun is never
 * Markdown (https://learn.microsoft.com/adaptive-cards/schema-explorer/text-run: "Markdown is not supported").
 */
import { teamsPayload, type AlertMessage } from '../../src/alerts/channels';

const planted = '[Re-approve the integration](https://evil.example/login) **urgent**';

const message: AlertMessage = {
  state: 'raised',
  condition: {
    kind: 'drift',
    key: 'drift:health',
    summary: `1 drift finding: ServiceNow oauth_entity 'outboundProvider': name is '${planted}'`,
    details: [
      `record-drift ServiceNow oauth_entity 'outboundProvider' (sys-1): name is '${planted}', approved 'Contoso'`,
    ],
  },
  integration: {
    id: 'sn-dev12345-0a1b2c3d',
    profile: 'm365-support-aad',
    tenant: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    tenantName: 'Contoso',
    serviceNowInstance: 'dev12345',
    status: 'active',
  },
  at: '2026-03-01T12:00:00.000Z',
  statusUrl: 'https://func.example/api/integrations/sn-dev12345-0a1b2c3d',
};

type Element = { type: string; text?: string; facts?: { title: string; value: string }[]; inlines?: unknown[] };

describe('the Teams alert card', () => {
  const card = (teamsPayload(message).attachments as { content: { version: string; body: Element[] } }[])[0].content;

  it('never puts text from outside into Markdown (TextBlock text, FactSet values)', () => {
    const markdown = card.body.flatMap((e) =>
      e.type === 'TextBlock'
        ? [e.text ?? '']
        : e.type === 'FactSet'
          ? (e.facts ?? []).flatMap((f) => [f.title, f.value])
          : [],
    );
    expect(markdown.filter((t) => t.includes('evil.example'))).toEqual([]);
  });

  it('still shows it, as plain text runs', () => {
    const runs = card.body
      .filter((e) => e.type === 'RichTextBlock')
      .flatMap((e) => e.inlines as { type: string; text: string }[]);
    expect(runs.every((r) => r.type === 'TextRun')).toBe(true);
    expect(runs.map((r) => r.text).join('\n')).toContain(planted);
    expect(Number(card.version)).toBeGreaterThanOrEqual(1.2); // RichTextBlock is 1.2
  });
});

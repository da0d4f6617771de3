/**
 * One stable name per secret consumer of a profile (`AppSpec.secretConsumers`), used where a consumer is confirmed to
 * hold a credential (the registry's `confirmations`) and where the credential inventory lists them. Pure.
 */
import type { SecretConsumer } from './types';

/** `servicenow:<record>.<field>` or `manual:<where> / <field>`. */
export const consumerKey = (c: SecretConsumer): string =>
  c.kind === 'servicenow' ? `servicenow:${c.record}.${c.field}` : `manual:${c.where} / ${c.field}`;

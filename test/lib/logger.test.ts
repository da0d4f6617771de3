import { createLogger, type LogRecord } from '../../src/lib/logger';

describe('createLogger', () => {
  it('prefixes records with the module name and redacts messages and fields', () => {
    const records: LogRecord[] = [];
    const log = createLogger('servicenow', (r) => records.push(r));
    log.warn('auth Basic YWRtaW46c2VjcmV0 refused', {
      user: 'admin',
      password: 'secret',
      headers: { authorization: 'x' },
    });
    expect(records).toEqual([
      {
        level: 'warn',
        logger: 'servicenow',
        message: 'auth Basic [redacted] refused',
        fields: { user: 'admin', password: '[redacted]', headers: { authorization: '[redacted]' } },
      },
    ]);
  });

  it('drops records below the configured level (info by default)', () => {
    const records: LogRecord[] = [];
    const log = createLogger('graph', (r) => records.push(r));
    log.debug('noise');
    log.info('kept');
    expect(records.map((r) => r.message)).toEqual(['kept']);
  });
});

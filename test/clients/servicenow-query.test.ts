import { encodedQuery } from '../../src/clients/servicenow-query';
import { ValidationError } from '../../src/lib/errors';

describe('encodedQuery', () => {
  it('joins =, !=, STARTSWITH and IN terms with ^', () => {
    const q = encodedQuery()
      .eq('client_id', '0f1e2d3c-aaaa-bbbb-cccc-000000000001')
      .ne('active', 'false')
      .startsWith('name', 'M365 ')
      .in('type', ['oauth_provider', 'oidc_provider']);
    expect(q.toString()).toBe(
      'client_id=0f1e2d3c-aaaa-bbbb-cccc-000000000001^active!=false^nameSTARTSWITHM365 ^typeINoauth_provider,oidc_provider',
    );
  });

  it('URL-encodes the query, including ^ and =', () => {
    expect(encodedQuery().eq('role.name', 'a=b&c').eq('x', 'https://h/p?q').toUrlEncoded()).toBe(
      'role.name%3Da%3Db%26c%5Ex%3Dhttps%3A%2F%2Fh%2Fp%3Fq',
    );
  });

  it.each([
    ['^', 'abc^ORactive=true'],
    ['CR', 'abc\rdef'],
    ['LF', 'abc\ndef'],
  ])('refuses %s in values with a ValidationError', (_name, value) => {
    expect(() => encodedQuery().eq('name', value)).toThrow(ValidationError);
    expect(() => encodedQuery().in('name', ['ok', value])).toThrow(ValidationError);
  });

  it('refuses field names outside [a-z0-9_.] and bad IN lists', () => {
    for (const field of ['Name', 'name^ORx', 'na me', '', 'name='])
      expect(() => encodedQuery().eq(field, 'x')).toThrow(ValidationError);
    expect(() => encodedQuery().in('name', [])).toThrow(ValidationError);
    expect(() => encodedQuery().in('name', ['a,b'])).toThrow(/comma/);
  });

  it('is immutable', () => {
    const base = encodedQuery().eq('a', '1');
    base.eq('b', '2');
    expect(base.toString()).toBe('a=1');
  });

  it('re-checks returned records, since ServiceNow ignores invalid terms', () => {
    const q = encodedQuery().eq('client_id', 'abc').in('type', ['x', 'y']);
    expect(q.matches({ client_id: 'abc', type: 'y' })).toBe(true);
    expect(q.matches({ client_id: 'abd', type: 'y' })).toBe(false);
    expect(q.matches({ client_id: 'abc' })).toBe(false);
    expect(q.matches({ client_id: { link: 'https://x', value: 'abc' }, type: 'x' })).toBe(true);
  });
});

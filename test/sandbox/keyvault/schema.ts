/**
 * A small walker for the subset of Swagger 2.0 / JSON schema the Key Vault secrets spec uses: `$ref` (local),
 * `type` object/array/string/integer/boolean, `properties`, `required`, `additionalProperties` (schema), `items`,
 * `enum`. Stricter than JSON schema on one point: a property the definition does not declare is reported, so a
 * stand-in cannot drift from the contract by adding fields.
 */
export interface Schema {
  $ref?: string;
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: Schema | boolean;
  items?: Schema;
  enum?: unknown[];
}

export interface SwaggerDoc {
  definitions: Record<string, Schema>;
}

export function validate(doc: SwaggerDoc, schema: Schema, value: unknown, path = '$'): string[] {
  if (schema.$ref) {
    const name = schema.$ref.replace(/^#\/definitions\//, '');
    const target = doc.definitions[name];
    if (!target) return [`${path}: unresolved ${schema.$ref}`];
    return validate(doc, target, value, path);
  }
  const problems: string[] = [];
  if (schema.enum && !schema.enum.includes(value)) problems.push(`${path}: ${JSON.stringify(value)} not in enum`);
  switch (schema.type) {
    case 'string':
      if (typeof value !== 'string') problems.push(`${path}: expected string`);
      return problems;
    case 'integer':
      if (!Number.isInteger(value)) problems.push(`${path}: expected integer`);
      return problems;
    case 'boolean':
      if (typeof value !== 'boolean') problems.push(`${path}: expected boolean`);
      return problems;
    case 'array':
      if (!Array.isArray(value)) return [...problems, `${path}: expected array`];
      value.forEach((item, i) => problems.push(...validate(doc, schema.items ?? {}, item, `${path}[${i}]`)));
      return problems;
    case 'object':
    case undefined: {
      if (schema.type === undefined && !schema.properties) return problems;
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        return [...problems, `${path}: expected object`];
      const obj = value as Record<string, unknown>;
      for (const r of schema.required ?? []) if (!(r in obj)) problems.push(`${path}: missing required ${r}`);
      for (const [k, v] of Object.entries(obj)) {
        const prop = schema.properties?.[k];
        if (prop) {
          // A `null` nextLink is what the service sends on the last page; the spec leaves nullability implicit.
          if (v !== null) problems.push(...validate(doc, prop, v, `${path}.${k}`));
        } else if (typeof schema.additionalProperties === 'object')
          problems.push(...validate(doc, schema.additionalProperties, v, `${path}.${k}`));
        else problems.push(`${path}: undeclared property ${k}`);
      }
      return problems;
    }
    default:
      return [...problems, `${path}: unsupported schema type ${schema.type}`];
  }
}

/** Every key path of a JSON value (array items collapse to `[]`), e.g. `value[].attributes.enabled`. */
export function keyPaths(value: unknown, prefix = ''): Set<string> {
  const out = new Set<string>();
  if (Array.isArray(value)) {
    for (const item of value) for (const p of keyPaths(item, `${prefix}[]`)) out.add(p);
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      const p = prefix ? `${prefix}.${k}` : k;
      out.add(p);
      for (const sub of keyPaths(v, p)) out.add(sub);
    }
  }
  return out;
}

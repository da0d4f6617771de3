/** The shape `GET /api/openapi.json` answers (its top level; the document is checked in full by the tests). */
import * as z from 'zod';

export const openApiDocumentSchema = z.object({
  openapi: z.string().regex(/^3\.1\.\d+$/),
  info: z.object({ title: z.string(), version: z.string(), description: z.string() }),
  jsonSchemaDialect: z.string(),
  paths: z.record(z.string(), z.record(z.string(), z.unknown())),
  components: z.object({
    schemas: z.record(z.string(), z.unknown()),
    securitySchemes: z.record(z.string(), z.unknown()),
  }),
});
export type OpenApiDocument = z.output<typeof openApiDocumentSchema>;

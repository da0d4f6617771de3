/**
 * The one module that registers every function (package.json `main`). Handler modules have no side effects, so
 * tests import them directly; the sandbox's function router loads this module and captures the registrations.
 */
import { app } from '@azure/functions';

app.setup({ enableHttpStream: false });

/**
 * One logger per client module (`createLogger('servicenow')`), as azure-sdk-for-js does with `createClientLogger`.
 * Every message and field passes through the redactor (lib/redact.ts), so secrets never reach the log sink.
 */
import { redactText, redactValue } from './redact';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogRecord {
  level: LogLevel;
  logger: string;
  message: string;
  fields?: Record<string, unknown>;
}

export type LogSink = (record: LogRecord) => void;

export interface Logger {
  readonly name: string;
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Writes one JSON line per record to the console (Functions forwards console output to Application Insights). */
export const consoleSink: LogSink = (record) => {
  const line = JSON.stringify(record);
  if (record.level === 'error') console.error(line);
  else if (record.level === 'warn') console.warn(line);
  else console.log(line);
};

let defaultSink: LogSink = consoleSink;
// Settings are read only by config.ts; the host wiring calls configureLogging() to change the level.
let minLevel: LogLevel = 'info';

/** Replaces the sink and level for loggers created without their own (tests, host wiring). */
export function configureLogging(opts: { sink?: LogSink; level?: LogLevel }): void {
  if (opts.sink) defaultSink = opts.sink;
  if (opts.level) minLevel = opts.level;
}

export function createLogger(name: string, sink?: LogSink): Logger {
  const emit = (level: LogLevel, message: string, fields?: Record<string, unknown>) => {
    if (LEVELS[level] < LEVELS[minLevel]) return;
    const record: LogRecord = { level, logger: name, message: redactText(message) };
    if (fields) record.fields = redactValue(fields) as Record<string, unknown>;
    (sink ?? defaultSink)(record);
  };
  return {
    name,
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

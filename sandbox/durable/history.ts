/**
 * History events as the Durable extension hands them to the JavaScript worker (PascalCase fields), typed after
 * durable-functions 3.5.0 lib/src/history/*.js and HistoryEventType.js.
 */
export const EventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  ExecutionFailed: 2,
  ExecutionTerminated: 3,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventSent: 14,
  EventRaised: 15,
  ContinueAsNew: 16,
} as const;

export type EventTypeValue = (typeof EventType)[keyof typeof EventType];

export const eventTypeName = (t: number): string =>
  Object.entries(EventType).find(([, v]) => v === t)?.[0] ?? `EventType${t}`;

export interface HistoryEvent {
  EventType: EventTypeValue;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: Date;
  Name?: string;
  Input?: string;
  Result?: string;
  Reason?: string;
  Details?: string;
  TaskScheduledId?: number;
  TimerId?: number;
  FireAt?: Date;
  InstanceId?: string;
  Version?: string;
  OrchestrationStatus?: string;
  /** Name of the scheduled function, carried on completions for the HTTP API's history view (not read by the SDK). */
  FunctionName?: string;
}

export function historyEvent(
  type: EventTypeValue,
  at: Date,
  fields: Partial<Omit<HistoryEvent, 'EventType' | 'Timestamp'>> = {},
): HistoryEvent {
  return { EventType: type, EventId: -1, IsPlayed: false, Timestamp: at, ...fields };
}

/** JSON for a history payload; `undefined` stays absent like the extension's null payloads. */
export const toJson = (value: unknown): string | undefined => (value === undefined ? undefined : JSON.stringify(value));

/**
 * The Durable HTTP API's `historyEvents` entry (camelCase `EventType` name, ISO timestamps). Follows
 * https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-http-api#get-instance-status .
 */
export function publicHistoryEvent(e: HistoryEvent, showOutput: boolean): Record<string, unknown> | undefined {
  // The HTTP API leaves out the bookkeeping events (episode markers and scheduling) and reports completions.
  const hidden: number[] = [EventType.OrchestratorStarted, EventType.OrchestratorCompleted, EventType.TaskScheduled];
  if (hidden.includes(e.EventType)) return undefined;
  const out: Record<string, unknown> = { EventType: eventTypeName(e.EventType), Timestamp: e.Timestamp.toISOString() };
  if (e.EventId >= 0) out.EventId = e.EventId;
  if (e.Name !== undefined) out.Name = e.Name;
  if (e.OrchestrationStatus !== undefined) out.OrchestrationStatus = e.OrchestrationStatus;
  if (e.FunctionName !== undefined) out.FunctionName = e.FunctionName;
  if (e.TimerId !== undefined) out.TimerId = e.TimerId;
  if (e.FireAt !== undefined) out.FireAt = e.FireAt.toISOString();
  if (e.InstanceId !== undefined) out.InstanceId = e.InstanceId;
  if (e.Reason !== undefined) out.Reason = e.Reason;
  if (e.Details !== undefined) out.Details = e.Details;
  if (showOutput && e.Result !== undefined) out.Result = parseJson(e.Result);
  if (showOutput && e.Input !== undefined && e.EventType === EventType.ExecutionStarted) out.Input = parseJson(e.Input);
  return out;
}

export function parseJson(text: string | undefined): unknown {
  if (text === undefined || text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

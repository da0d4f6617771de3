import axios, { type AxiosInstance } from 'axios';

import { SandboxClock } from '../../../sandbox/core/clock';
import { FaultInjector } from '../../../sandbox/core/faults';
import { Journal } from '../../../sandbox/core/journal';
import { serve, type RunningServer } from '../../../sandbox/core/server';
import { loadTls } from '../../../sandbox/core/tls';
import type { StandIn } from '../../../sandbox/core/types';
import { createServiceNow, type ServiceNowOptions, type ServiceNowStandIn } from '../../../sandbox/servicenow';

export const INSTANCE = 'dev12345';

export interface Harness {
  clock: SandboxClock;
  faults: FaultInjector;
  journal: Journal;
  sn: ServiceNowStandIn;
  server: RunningServer;
  /** https://127.0.0.1:PORT/{instance} */
  base: string;
  admin: AxiosInstance;
  as(auth: { username: string; password: string } | { bearer: string } | undefined): AxiosInstance;
  close(): Promise<void>;
}

/** Starts the ServiceNow stand-in over real HTTPS; clients never throw on HTTP status. */
export async function startServiceNow(opts: ServiceNowOptions = {}): Promise<Harness> {
  const clock = new SandboxClock();
  const faults = new FaultInjector(1);
  const journal = new Journal();
  let origin = '';
  const sn = createServiceNow(
    { clock, origin: () => origin },
    { instances: [INSTANCE], adminPassword: 'Adm1n!pass', ...opts },
  );
  const server = await serve({ standIn: sn, tls: loadTls(), clock, faults, journal });
  origin = server.origin;
  const base = `${origin}/${INSTANCE}`;
  const as: Harness['as'] = (auth) =>
    axios.create({
      baseURL: base,
      validateStatus: () => true,
      headers: {
        Accept: 'application/json',
        ...(auth && 'bearer' in auth ? { Authorization: `Bearer ${auth.bearer}` } : {}),
      },
      ...(auth && 'username' in auth ? { auth } : {}),
    });
  return {
    clock,
    faults,
    journal,
    sn,
    server,
    base,
    admin: as({ username: sn.adminUser, password: sn.adminPassword }),
    as,
    close: () => server.close(),
  };
}

/** A tiny HTTPS OIDC issuer: v1 discovery document + JWKS, for bearer-token tests. */
export async function startIssuer(
  standIn: (origin: () => string) => StandIn,
): Promise<{ server: RunningServer; origin: string }> {
  let origin = '';
  const server = await serve({
    standIn: standIn(() => origin),
    tls: loadTls(),
    clock: new SandboxClock(),
    faults: new FaultInjector(1),
    journal: new Journal(),
  });
  origin = server.origin;
  return { server, origin };
}

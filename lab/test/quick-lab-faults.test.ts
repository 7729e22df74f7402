/**
 * The quick race lab (see quick-lab.ts), the scenarios that stop, restart or replace servers:
 * terminate and restart mid-load, the lying health check, failover.
 */
import { SCENARIOS } from '../src/scenarios/index.ts'
import { describeQuickLab, SERVER_FAULT_SCENARIOS } from './quick-lab.ts'

describeQuickLab(
  'race lab (quick): server faults',
  SCENARIOS.filter((s) => SERVER_FAULT_SCENARIOS.has(s.id)),
)

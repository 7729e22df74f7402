/**
 * The quick race lab (see quick-lab.ts): the scenarios that stop, restart or replace servers:
 * terminate and restart mid-load, the lying health check, failover.
 */
import { describeQuickLab, quickLabGroup } from './quick-lab.ts'

describeQuickLab('race lab (quick): server faults', quickLabGroup('faults'))

/** The quick race lab (see quick-lab.ts): pool exhaustion, the WebSocket hub, the pooler. */
import { describeQuickLab, quickLabGroup } from './quick-lab.ts'

describeQuickLab('race lab (quick): crowds', quickLabGroup('crowds'))

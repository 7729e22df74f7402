/**
 * `npm run service-token -w classroom`: prints the header value a grading service sends to
 * POST /events/:id/scores (`Authorization: Service <token>`), from SERVICE_SECRET or, outside
 * production, the secret the service generated in DATA_DIR/secrets.json.
 */
import { serviceToken } from '../auth/authenticate.ts'
import { secretFor } from '../development-secrets.ts'
import { dataDirOf } from './data-dir.ts'

const dataDir = dataDirOf()
const secret = await secretFor('SERVICE_SECRET', process.env, dataDir)
if (secret === undefined) {
  console.error(`No SERVICE_SECRET: set it as the service has it, or start the service once (npm start) so it creates one in ${dataDir}/secrets.json.`)
  process.exit(1)
}
console.log(`Service ${serviceToken(secret)}`)

// API keys of the payments HTTP API: the platform's one implementation (src/platform/api-keys.ts),
// Bearer, X-Api-Key or HTTP Basic (browsers, for the dashboard).
export { apiKeyChecker, presentedKey, type ApiKeyCheck } from '../platform/api-keys.ts';

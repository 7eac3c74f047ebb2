// GET /v1/account: the account the key belongs to (how a sync engine learns which account it
// mirrors). A standard account that has finished onboarding; nothing about it can be changed here.
import type { Router } from '../api.ts';
import type { JsonObject } from '../spec.ts';

export function defineAccountRoutes(router: Router): void {
  router.define('GET', '/v1/account', ({ emu }) => {
    const fixture = emu.spec.fixtures.account!;
    const { id, created } = emu.account;
    const settled = { alternatives: [], current_deadline: null, currently_due: [], disabled_reason: null, errors: [], eventually_due: [], past_due: [], pending_verification: [] };
    const account: JsonObject = {
      ...fixture,
      id,
      created,
      type: 'standard',
      email: 'billing@ledgerline.test',
      business_profile: { ...(fixture.business_profile as JsonObject), name: 'Ledgerline emulator' },
      charges_enabled: true,
      payouts_enabled: true,
      details_submitted: true,
      external_accounts: { object: 'list', data: [], has_more: false, url: `/v1/accounts/${id}/external_accounts` },
      requirements: settled,
      future_requirements: settled,
    };
    return JSON.stringify(account);
  });
}

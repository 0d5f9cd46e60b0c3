/**
 * Firewall state and routes: the account-wide rules (legacy `GET/PUT /firewall-rules`, the same list
 * as the `global` ruleset's) and regional rulesets that instances name at launch. A ruleset that a
 * live instance uses cannot be deleted (400 `firewall-rulesets/firewall-ruleset-in-use`).
 */
import { randomBytes } from "node:crypto";
import type { LambdaAccount } from "./account.js";
import { errors, invalid, ok, type RouteResult } from "./render.js";
import { type FirewallRule, firewallRulesBody, globalRulesetPatchBody, rulesetCreateBody, rulesetPatchBody } from "./requests.js";

export interface RulesetRecord {
  id: string;
  name: string;
  region: string;
  rules: FirewallRule[];
  created: string;
}

export class Firewall {
  /** The global rules: a new account allows SSH from anywhere. */
  rules: FirewallRule[] = [{ protocol: "tcp", port_range: [22, 22], source_network: "0.0.0.0/0", description: "Allow SSH from anywhere" }];
  readonly rulesets = new Map<string, RulesetRecord>();
}

const copyRule = (r: FirewallRule): FirewallRule => ({ ...r, ...(r.port_range && { port_range: [...r.port_range] }) });
const globalJson = (f: Firewall) => ({ id: "global", name: "Global Firewall Rules", rules: f.rules.map(copyRule) });

function rulesetJson(account: LambdaAccount, r: RulesetRecord) {
  return {
    id: r.id,
    name: r.name,
    region: account.regionJson(r.region),
    rules: r.rules.map(copyRule),
    created: r.created,
    instance_ids: account.instancesUsingRuleset(r.id).map((i) => i.id),
  };
}

/** The answer for a firewall route (`key` is "METHOD /template"), or undefined when `key` is not one. */
export function firewallRoute(a: LambdaAccount, key: string, id: string, body: unknown): RouteResult | undefined {
  const f = a.firewall;
  switch (key) {
    case "GET /firewall-rules":
      return ok(f.rules.map(copyRule));
    case "PUT /firewall-rules": {
      const b = firewallRulesBody.safeParse(body);
      if (!b.success) return invalid(b.error);
      f.rules = b.data.data;
      a.audit.record("firewall_ruleset", "updated", "global");
      return ok(f.rules.map(copyRule));
    }
    case "GET /firewall-rulesets/global":
      return ok(globalJson(f));
    case "PATCH /firewall-rulesets/global": {
      const b = globalRulesetPatchBody.safeParse(body);
      if (!b.success) return invalid(b.error);
      if (b.data.rules !== undefined) f.rules = b.data.rules;
      a.audit.record("firewall_ruleset", "updated", "global");
      return ok(globalJson(f));
    }
    case "GET /firewall-rulesets":
      return ok([...f.rulesets.values()].map((r) => rulesetJson(a, r)));
    case "POST /firewall-rulesets": {
      const b = rulesetCreateBody.safeParse(body);
      if (!b.success) return invalid(b.error);
      const rec = { id: randomBytes(16).toString("hex"), name: b.data.name, region: b.data.region, rules: b.data.rules, created: new Date(a.now()).toISOString() };
      f.rulesets.set(rec.id, rec);
      a.audit.record("firewall_ruleset", "created", rec.id, { region: rec.region });
      return ok(rulesetJson(a, rec));
    }
  }
  const r = f.rulesets.get(id);
  switch (key) {
    case "GET /firewall-rulesets/:id":
      return r ? ok(rulesetJson(a, r)) : errors.firewallRulesetNotFound();
    case "PATCH /firewall-rulesets/:id": {
      if (!r) return errors.firewallRulesetNotFound();
      const b = rulesetPatchBody.safeParse(body);
      if (!b.success) return invalid(b.error);
      if (b.data.name !== undefined) r.name = b.data.name;
      if (b.data.rules !== undefined) r.rules = b.data.rules;
      a.audit.record("firewall_ruleset", "updated", r.id);
      return ok(rulesetJson(a, r));
    }
    case "DELETE /firewall-rulesets/:id": {
      if (!r) return errors.firewallRulesetNotFound();
      if (a.instancesUsingRuleset(r.id).length > 0) return errors.firewallRulesetInUse();
      f.rulesets.delete(r.id);
      a.audit.record("firewall_ruleset", "deleted", r.id);
      return ok({});
    }
  }
  return undefined;
}

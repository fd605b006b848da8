// How a frontend uses the TypeScript types generated from configs/openapi.yaml
// (openapi-typescript): `config` narrows by provider or category, event `details` by action,
// to their real schemas. tests/integration/test_openapi_typescript.py type-checks this file
// against the types generated next to it as ./api.d.ts; it is never run.
import type { components, paths } from "./api";

type Schemas = components["schemas"];
type Integration = Schemas["Integration"];
type Event = Schemas["Event"];
type SetupForm =
  paths["/api/v1/integrations/{org}/{provider}/setup"]["get"]["responses"][200]["content"]["application/json"];

// Compiles only when A and B are the same type (an `any`, `unknown` or `never` does not pass).
type Exactly<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const exactly = <A, B>(same: Exactly<A, B>): boolean => same;

export function seats(i: Integration): number | undefined {
  if (i.category === "saas") {
    const seats = i.config?.seats;
    exactly<typeof seats, number | undefined>(true);
    return seats;
  }
  return undefined;
}

export function billingCycle(i: Schemas["ConfiguredIntegration"]): "monthly" | "annual" | undefined {
  return i.category === "saas" ? i.config?.billing_cycle : undefined;
}

export function scope(i: Integration): string | undefined {
  if (i.provider === "gcp") {
    const table = i.config?.billing_export_table;
    exactly<typeof table, string | undefined>(true);
    return table;
  }
  if (i.provider === "openai") return i.config?.project ?? i.config?.organization;
  if (i.provider === "azure") {
    const azure = i.config?.scope;
    exactly<typeof azure, string | undefined>(true);
    return azure;
  }
  return undefined;
}

export function expiresAt(i: Schemas["ConfiguredIntegration"]): string | null | undefined {
  return i.credential?.expires_at;
}

export function describe(e: Event): string {
  switch (e.action) {
    case "setup":
      return e.details.unchanged_credential ? "unchanged" : `version ${e.details.version ?? "-"}`;
    case "rotate":
      return `version ${e.details.version}`;
    case "validate":
    case "revalidate":
      return `${e.details.target ?? "-"} ${e.details.detail ?? ""}`;
    case "edit":
      return e.details.fields.join(", ");
    case "expiry_warning": {
      const days: number = e.details.days_left;
      return `expires on ${e.details.expires_at}, in ${days} days`;
    }
    case "status_change": {
      const to: Schemas["Status"] = e.details.to;
      return `${e.details.from} -> ${to}: ${e.details.message ?? ""}`;
    }
    default:
      return e.action;
  }
}

export function credentialKind(form: SetupForm): "api_key" | "service_account" | "aws_role" | "azure_service_principal" | "none" {
  return form.credential.kind;
}

export function awsExternalId(form: SetupForm): string | undefined {
  return form.aws?.external_id;
}

export function firstStep(form: SetupForm): string | undefined {
  return form.steps[0];
}

// What must not type-check: the types are precise, not `any`.
export function notNarrowed(i: Integration) {
  // @ts-expect-error only a saas integration's config has seats
  return i.config?.seats;
}

export function otherProvider(i: Integration) {
  // @ts-expect-error gcp's config has no seats
  return i.provider === "gcp" ? i.config?.seats : undefined;
}

export function otherAction(e: Event) {
  // @ts-expect-error a setup's details name no fields (an edit's do)
  return e.action === "setup" ? e.details.fields : undefined;
}

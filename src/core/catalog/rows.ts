/**
 * The dated price catalog: every registered provider's rows (each provider's folder holds its own, with
 * their sources; see src/providers/catalog-row.ts). Live prices from a provider's API replace its rows when
 * available (see offers.ts); these rows are the floor Kiln plans with offline.
 */
import { CATALOG_DATE, type CatalogRow, type ProviderTier, SOURCES } from "../../providers/catalog-row.js";
import { providers } from "../../providers/registry.js";

export { CATALOG_DATE, type CatalogRow, type ProviderTier, SOURCES };

/** Every registered provider's catalog rows, in registry order. */
export const catalogRows = (): readonly CatalogRow[] => providers().flatMap((d) => d.catalog);

/** The rows as registered at start-up (tests that register providers call {@link catalogRows}). */
export const CATALOG: readonly CatalogRow[] = catalogRows();

/** A provider's tier; "reliable" for a name the registry does not know (a live offer of a test provider). */
export const tierOf = (provider: string): ProviderTier => providers().find((d) => d.name === provider)?.tier ?? "reliable";

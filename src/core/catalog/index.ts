/** The dated price catalog and offer search. */
export { CATALOG, CATALOG_DATE, type CatalogRow, catalogRows, SOURCES, tierOf } from "./rows.js";
export { baselineOf, findOffers, withDeadline, type LiveOffers, type OfferQuery, type OfferSearch, type OfferSources, type PricedOffer, resolveGpuNames } from "./offers.js";
export { mergeRegions, OFFER_HEADER, offerRow, priceAge, renderTable, usd, versus } from "./table.js";

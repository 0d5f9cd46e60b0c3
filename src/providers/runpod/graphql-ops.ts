/**
 * The GraphQL operations Kiln sends to RunPod (`POST https://api.runpod.io/graphql`), as fixed documents
 * with variables — never values pasted into the query text. GraphQL is only used for what REST v2 cannot do:
 * spot ("interruptible") pods and their prices (providers.md §2: "Spot pods are only possible here"; REST v1,
 * whose `interruptible` flag had no bid, was retired on 2026-11-15). The emulator answers exactly these
 * documents and refuses any other, as a GraphQL server refuses a document its schema does not validate.
 *
 * GUESS (no schema file in the reference; graphql-spec.runpod.io was not read): the input type's name
 * `PodRentInterruptableInput` and the field list, taken from RunPod's docs examples and runpod-python/dstack/
 * SkyPilot's inline mutations (providers.md §2.2); `env` as `[{key, value}]`, `ports` as one comma string.
 */
export const SPOT_PRICES_QUERY = "query KilnSpotPrices { gpuTypes { id memoryInGb secureSpotPrice communitySpotPrice } }";

export const RENT_INTERRUPTIBLE_MUTATION =
  "mutation KilnRentInterruptable($input: PodRentInterruptableInput!) { podRentInterruptable(input: $input) { id } }";

/** `PodRentInterruptableInput`, the fields Kiln sets. Prices are USD per GPU per hour. */
export interface RentInterruptableInput {
  bidPerGpu: number;
  cloudType: "SECURE" | "COMMUNITY";
  gpuTypeId: string;
  gpuCount: number;
  name: string;
  imageName: string;
  containerDiskInGb: number;
  volumeInGb: number;
  /** "22/tcp": the direct SSH mapping (the proxy carries no SFTP). */
  ports: string;
  env: { key: string; value: string }[];
  dataCenterId?: string;
  supportPublicIp: boolean;
}

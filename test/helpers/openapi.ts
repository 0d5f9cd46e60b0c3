// The Lambda OpenAPI validator lives in src/providers/lambda/testing/ (inside tsconfig's rootDir);
// re-exported here for tests outside src/.
export * from "../../src/providers/lambda/testing/openapi.js";

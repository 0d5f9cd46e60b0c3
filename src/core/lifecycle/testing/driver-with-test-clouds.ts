/**
 * The cloud driver with the test-only second cloud registered (src/providers/testing/second-lambda.ts),
 * for e2e tests of failover and recovery across providers. Static imports run in order: the registration
 * first, then the driver's entry.
 */
import "./register-test-clouds.js";
import "../driver-main.js";

import { registerProvider } from "../../../providers/registry.js";
import { secondLambdaDescriptor } from "../../../providers/testing/second-lambda.js";

registerProvider(secondLambdaDescriptor());

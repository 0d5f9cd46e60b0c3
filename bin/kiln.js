#!/usr/bin/env node
// The npm `bin` entry: the compiled CLI. (From a source checkout use bin/kiln, which builds first.)
import { run } from "../dist/cli/main.js";

run();

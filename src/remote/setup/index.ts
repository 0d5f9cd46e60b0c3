/** Remote environment setup: detect what a machine has, then make a venv the workload runs in. */
export { type DetectedMachine, detectMachine, MIN_PYTHON, type OsInfo, parseNvccRelease, parseOsRelease, PYTHON_CANDIDATES } from "./detect.js";
export { keepSystemTorch, lockPythons, REMOTE_LOCK, type RemoteEnvironment, type SetupOptions, setupRemoteEnvironment } from "./environment.js";
export { requireHostPythonReady } from "./host-python.js";
export { isTransientPipFailure, type PipOptions, pipInstall } from "./pip.js";
export { FACTS_SCRIPT, type PythonFacts, type PythonProbe, probePython, type TorchFacts } from "./python-facts.js";
export { compareVersions, releaseOf, torchReinstallCommand, torchWheelFor, versionAtLeast, wheelIndexUrl } from "./versions.js";
export { requirementsHashOf, type ShipOptions, type ShippedJob, shipJob } from "./ship.js";

/** The live dashboard: jobs, machines, offers, actions and Prometheus metrics over HTTP (`kiln dashboard`). */
export { type DashboardOptions, type RunningDashboard, startDashboard } from "./server.js";
export { isLoopback } from "./access.js";

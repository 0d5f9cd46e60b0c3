/** Alerts: Slack-compatible webhooks, delivered in the background with retries. */
export { type Alert, type AlertEvent, AlertQueue, slackMessage } from "./queue.js";
export { DEFAULT_DELIVERY, type DeliveryOptions, type DeliveryResult, type SlackMessage, postWebhook } from "./webhook.js";

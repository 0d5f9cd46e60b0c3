/**
 * EC2's spot interruption notice, as the on-machine watcher reads it (src/core/lifecycle/notice.ts): two
 * minutes' warning at `spot/instance-action`, behind IMDSv2 (a session token first, `PUT /latest/api/token`
 * with its TTL header, then the GET with `X-aws-ec2-metadata-token`). Kiln launches with IMDSv2 required
 * (HttpTokens=required), so a plain GET would get 401 forever.
 */
import type { ReclaimNotice } from "../descriptor.js";

export const EC2_RECLAIM_NOTICE: ReclaimNotice = {
  url: "http://169.254.169.254/latest/meta-data/spot/instance-action",
  headers: [],
  when: "ok",
  seconds: 120,
  token: { url: "http://169.254.169.254/latest/api/token", headers: ["X-aws-ec2-metadata-token-ttl-seconds: 21600"], header: "X-aws-ec2-metadata-token" },
};

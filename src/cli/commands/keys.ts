/** `kiln keys`: show Kiln's SSH key (creating it on first use) so the user can register it with a provider. */
import { defineCommand } from "../command.js";

export const keysCommand = defineCommand({
  name: "keys",
  summary: "Show Kiln's SSH public key (created on first use) to register with a provider or a host",
  options: {
    public: { type: "boolean", description: "Print only the public key line (for piping into authorized_keys)" },
  },
  details:
    "Kiln uses one ed25519 key for every machine, kept in KILN_HOME/keys (private key mode 0600).\n" +
    "To use your own key instead, set `resources.key: ~/.ssh/id_ed25519` in the job spec.",
  async handler(ctx, args) {
    // Imported here, not at the top: remote/ssh/keys pulls in ssh2, which `kiln --help` must not pay for.
    const { ensureKeyPair } = await import("../../remote/ssh/keys.js");
    const pair = ensureKeyPair(ctx.paths.keys);
    if (args.values["public"]) {
      ctx.io.out(`${pair.publicKey}\n`);
      return 0;
    }
    ctx.io.out(
      [
        `${pair.created ? "Created" : "Using"} Kiln's SSH key: ${pair.privateKeyPath}`,
        `Fingerprint: ${pair.fingerprint}`,
        "",
        "Public key (add it to the provider's SSH keys, or to ~/.ssh/authorized_keys on your own host):",
        pair.publicKey,
        "",
      ].join("\n"),
    );
    return 0;
  },
});

/**
 * Shapes of base models the planner knows, so it can size the part of the model that runs (embeddings
 * plus blocks 0..layer) without downloading anything. Numbers are from each model's config.json
 * (hidden_size, num_hidden_layers, vocab_size) and its published parameter count.
 */
import { UserError } from "../../base/errors.js";
import type { ModelShape } from "../spec/sae-config.js";

export interface KnownModel {
  id: string;
  aliases: readonly string[];
  dModel: number;
  nLayers: number;
  params: number;
  /** 0 when unknown (an override): then every parameter is attributed to the blocks, which over-estimates. */
  vocab: number;
  /** Tied input/output embeddings count once in `params`. */
  tiedEmbeddings: boolean;
}

export const KNOWN_MODELS: readonly KnownModel[] = [
  { id: "meta-llama/Llama-3.1-8B", aliases: ["meta-llama/Meta-Llama-3.1-8B", "meta-llama/Llama-3.1-8B-Instruct"], dModel: 4096, nLayers: 32, params: 8.03e9, vocab: 128256, tiedEmbeddings: false },
  { id: "meta-llama/Llama-3.2-1B", aliases: ["meta-llama/Llama-3.2-1B-Instruct"], dModel: 2048, nLayers: 16, params: 1.24e9, vocab: 128256, tiedEmbeddings: true },
  { id: "meta-llama/Llama-3.2-3B", aliases: ["meta-llama/Llama-3.2-3B-Instruct"], dModel: 3072, nLayers: 28, params: 3.21e9, vocab: 128256, tiedEmbeddings: true },
  { id: "mistralai/Mistral-7B-v0.1", aliases: ["mistralai/Mistral-7B-Instruct-v0.2"], dModel: 4096, nLayers: 32, params: 7.24e9, vocab: 32000, tiedEmbeddings: false },
  { id: "google/gemma-2-2b", aliases: ["google/gemma-2-2b-it"], dModel: 2304, nLayers: 26, params: 2.61e9, vocab: 256000, tiedEmbeddings: true },
  { id: "gpt2", aliases: ["openai-community/gpt2"], dModel: 768, nLayers: 12, params: 124e6, vocab: 50257, tiedEmbeddings: true },
  { id: "EleutherAI/pythia-70m", aliases: ["EleutherAI/pythia-70m-deduped"], dModel: 512, nLayers: 6, params: 70.4e6, vocab: 50304, tiedEmbeddings: false },
  { id: "sentence-transformers/all-MiniLM-L6-v2", aliases: ["minilm"], dModel: 384, nLayers: 6, params: 22.7e6, vocab: 30522, tiedEmbeddings: true },
];

export interface ResolvedModel extends KnownModel {
  /** Parameters that run for the hooked layer: embeddings + blocks 0..layer. */
  paramsToLayer: number;
  source: "table" | "model_shape";
}

const norm = (s: string) => s.toLowerCase().replace(/\/+$/, "");

/** The known model for a `base_model` value, by id, alias, or the last path segment of either. */
export function findModel(baseModel: string): KnownModel | undefined {
  const b = norm(baseModel);
  const last = b.split("/").pop() ?? b;
  return (
    KNOWN_MODELS.find((m) => [m.id, ...m.aliases].some((n) => norm(n) === b)) ??
    KNOWN_MODELS.find((m) => [m.id, ...m.aliases].some((n) => norm(n).split("/").pop() === last))
  );
}

/**
 * The shape the estimate uses: `workload.sae.model_shape` when given, else the table. Unknown models
 * and layers past the last block are UserErrors naming the fix.
 */
export function resolveModel(baseModel: string, layer: number, override?: ModelShape): ResolvedModel {
  const known = findModel(baseModel);
  const m: KnownModel | undefined = override
    ? { id: baseModel, aliases: [], dModel: override.d_model, nLayers: override.n_layers, params: override.params, vocab: 0, tiedEmbeddings: true }
    : known;
  if (!m) {
    throw new UserError(`the planner does not know the shape of "${baseModel}"`, {
      exitCode: 2,
      hint: `add workload.sae.model_shape: {d_model, n_layers, params} (from the model's config.json), or use one of: ${KNOWN_MODELS.map((k) => k.id).join(", ")}`,
    });
  }
  if (layer >= m.nLayers) {
    throw new UserError(`workload.sae.layer: ${baseModel} has ${m.nLayers} blocks (0..${m.nLayers - 1}), got ${layer}`, { exitCode: 2 });
  }
  const embed = m.vocab * m.dModel;
  const perBlock = (m.params - embed * (m.tiedEmbeddings ? 1 : 2)) / m.nLayers;
  return { ...m, paramsToLayer: embed + (layer + 1) * perBlock, source: override ? "model_shape" : "table" };
}
